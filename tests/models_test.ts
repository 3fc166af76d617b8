import assert from "node:assert/strict";
import {
  activationMaxNet,
  countParams,
  deepDecoder,
  denoisingNet,
  describeNetwork,
  featureInversionNet,
  flashNoFlashNet,
  hourglass,
  inferChannels,
  inpaintingLibraryNet,
  inpaintingNet,
  inpaintingResNet,
  inpaintingVaseNet,
  jpegNet,
  type Network,
  restorationBarbaraNet,
  restorationKateNet,
  skip,
} from "../models/mod.ts";

// REFERENCE.md §1a parameter counts table and §3 (Deep Decoder).
const rows: [string, () => Network, number][] = [
  ["denoising F16 / SR get_net('skip')", () => denoisingNet(), 2_217_831],
  ["restoration barbara (1-ch out)", () => restorationBarbaraNet(), 2_217_573],
  ["deJPEG snail", () => jpegNet(), 572_827],
  ["inpainting kate", () => inpaintingNet(), 3_002_627],
  ["inpainting vase (meshgrid)", () => inpaintingVaseNet(), 2_157_955],
  ["inpainting library skip_depth6", () => inpaintingLibraryNet(6), 2_996_467],
  ["inpainting library skip_depth4", () => inpaintingLibraryNet(4), 1_060_339],
  ["inpainting library skip_depth2", () => inpaintingLibraryNet(2), 59_635],
  ["inpainting library ResNet", () => inpaintingResNet(), 158_979],
  ["restoration kate", () => restorationKateNet(), 1_027_379],
  ["flash / no-flash", () => flashNoFlashNet(), 2_184_307],
  ["feature inversion", () => featureInversionNet(), 2_606_763],
  [
    "feature inversion (appendix, 2-ch input)",
    () => featureInversionNet({ inputChannels: 2 }),
    2_583_123,
  ],
  ["activation maximisation", () => activationMaxNet(), 2_948_567],
  ["deep decoder k=64", () => deepDecoder({ channels: 64 }), 25_536],
  ["deep decoder k=128", () => deepDecoder({ channels: 128 }), 100_224],
];

for (const [name, build, expected] of rows) {
  Deno.test(`countParams() matches the reference for ${name}`, () => {
    assert.equal(countParams(build()), expected);
  });
}

Deno.test("skip() per-level parameter split matches REFERENCE.md §1a", () => {
  // Level 0: 354,708; levels 1–4: 465,684 each; head 387 (denoising config).
  const one = countParams(denoisingNet({ channelsDown: [128], channelsSkip: [4] }));
  // A one-level net is level 0 with nothing deeper: its "deeper" k is nd[0] = 128, as in the
  // 5-level net, so level 0 + head is exactly this net.
  assert.equal(one, 354_708 + 387);
});

Deno.test("skip() orders each level as concat → BN → up conv → BN → 1×1 → BN", () => {
  const net = skip({ inputChannels: 2, channelsDown: [4, 4], channelsSkip: [1, 0] });
  const ids = net.nodes.map((n) => n.id);
  const at = (id: string) => ids.indexOf(id);
  assert.ok(at("l0.concat") >= 0, "level 0 with ns=1 concatenates");
  assert.equal(at("l1.concat"), -1, "level 1 with ns=0 has no concat");
  assert.ok(at("l1.up.bn0") >= 0, "the BN after the (missing) concat exists when ns=0");
  assert.ok(at("l0.concat") < at("l0.up.bn0") && at("l0.up.bn0") < at("l0.up.conv"));
  assert.ok(at("l0.up.conv") < at("l0.up.bn") && at("l0.up.bn") < at("l0.up.conv1x1"));
  assert.equal(net.output, "head.sigmoid");
  assert.equal(net.sizeMultiple, 4);
  const channels = inferChannels(net);
  assert.equal(channels.get("l0.concat"), 1 + 4);
  assert.equal(channels.get("head.sigmoid"), 3);
  const bn0 = net.nodes.find((n) => n.id === "l0.up.bn0");
  assert.ok(bn0?.op === "bn" && bn0.act === "none");
});

Deno.test("skip() with a pooling downsample runs the conv at stride 1 then pools", () => {
  const net = skip({ channelsDown: [4], channelsSkip: [0], downsampleMode: "avg" });
  const conv = net.nodes.find((n) => n.id === "l0.down.conv1");
  assert.ok(conv?.op === "conv" && conv.stride === 1);
  const pool = net.nodes.find((n) => n.id === "l0.down.pool");
  assert.ok(pool?.op === "pool" && pool.mode === "avg" && pool.input === "l0.down.conv1");
});

Deno.test("skip() rejects mismatched per-level options with a clear message", () => {
  assert.throws(
    () => skip({ channelsDown: [4, 4], filterSizeDown: [3] }),
    /filterSizeDown.*2.*received 1/,
  );
  assert.throws(() => skip({ channelsDown: [4], filterSizeUp: 4 }), /odd positive kernel/);
});

Deno.test("hourglass() has no concat and the skip() ns=0 count", () => {
  const h = hourglass({ inputChannels: 2, channelsDown: [8, 8] });
  assert.ok(h.nodes.every((n) => n.op !== "concat"));
  assert.equal(
    countParams(h),
    countParams(skip({ inputChannels: 2, channelsDown: [8, 8], channelsSkip: [0, 0] })),
  );
});

Deno.test("deepDecoder() takes z at 1/2^L of the image and ends in a sigmoid", () => {
  const net = deepDecoder({ channels: 8, upsamplings: 3 });
  const z = net.nodes[0]!;
  assert.ok(z.op === "input" && z.downscale === 8 && z.channels === 8);
  assert.equal(net.nodes.filter((n) => n.op === "upsample").length, 3);
  assert.equal(net.output, "head.sigmoid");
});

Deno.test("describeNetwork() lists every node and the total", () => {
  const net = jpegNet();
  const text = describeNetwork(net);
  assert.equal(text.split("\n").length, net.nodes.length + 2);
  assert.match(text, /total 572827 parameters/);
});
