/**
 * The layer registry (engine/layers/) and the backends' kernel registries are complete: every
 * layer kind the built-in networks use has a record with every rule, every step kind of the
 * plan format a kernel on each backend, and a layer kind registered at run time — a toy that
 * lives only in this file — compiles, counts, describes and trains on the reference backend
 * without any other file knowing of it.
 */
import assert from "node:assert/strict";
import {
  type CompileOptions,
  compilePlan,
  describePlan,
  downsampleTerm,
} from "../engine/compile.ts";
import { CPU_KERNELS } from "../engine/cpu/schedule.ts";
import {
  BUILTIN_LAYERS,
  defineLayer,
  layerKind,
  layerKinds,
  oneInput,
  registerLayer,
} from "../engine/layers/mod.ts";
import { type Plan, type Step, STEP_KINDS, type View } from "../engine/plan.ts";
import {
  type Arenas,
  hasReferenceKernel,
  REFERENCE_KERNELS,
  ReferenceTrainer,
  registerReferenceKernel,
} from "../engine/reference.ts";
import { WEBGPU_KERNELS } from "../engine/webgpu/kernels.ts";
import {
  countParams,
  deepDecoder,
  denoisingNet,
  describeNetwork,
  inpaintingResNet,
  type LayerNode,
  type Network,
  restorationKateNet,
  skip,
  superResolutionNet,
} from "../models/mod.ts";
import { exportOnnx } from "../models/onnx_export.ts";

/** Networks that between them use every built-in layer kind. */
function builtinNetworks(): Network[] {
  return [
    denoisingNet(),
    superResolutionNet(),
    restorationKateNet(),
    inpaintingResNet(),
    deepDecoder(),
    skip({ channelsDown: [8, 8], channelsSkip: [2, 2], downsampleMode: "max" }),
    skip({ channelsDown: [8, 8], channelsSkip: [2, 2], downsampleMode: "lanczos2" }),
  ];
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

Deno.test("every step kind of the plan format has a kernel on each backend, and no other kind does", () => {
  const kinds = sorted(STEP_KINDS);
  assert.equal(new Set(kinds).size, kinds.length, "STEP_KINDS has no duplicates");
  assert.deepEqual(sorted(Object.keys(REFERENCE_KERNELS)), kinds, "reference");
  assert.deepEqual(sorted(Object.keys(CPU_KERNELS)), kinds, "cpu");
  assert.deepEqual(sorted(Object.keys(WEBGPU_KERNELS)), kinds, "webgpu");
  for (const kind of STEP_KINDS) {
    assert.equal(typeof REFERENCE_KERNELS[kind], "function", `reference ${kind}`);
    assert.equal(typeof WEBGPU_KERNELS[kind], "function", `webgpu ${kind}`);
    assert.equal(typeof CPU_KERNELS[kind].launch, "function", `cpu ${kind} launch`);
    assert.equal(typeof CPU_KERNELS[kind].access, "function", `cpu ${kind} access`);
    assert.ok(hasReferenceKernel(kind), kind);
  }
});

Deno.test("every layer kind of the built-in networks has a complete record, and every built-in record is used", () => {
  const used = new Set(builtinNetworks().flatMap((n) => n.nodes.map((node) => node.op)));
  const builtin = BUILTIN_LAYERS.map((k) => k.op);
  assert.deepEqual(sorted(used), sorted(builtin));
  assert.deepEqual(layerKinds().slice(0, builtin.length), builtin);
  for (const op of builtin) {
    const kind = layerKind(op);
    assert.equal(kind.op, op);
    assert.ok(kind.summary.length > 0, `${op} has a summary`);
    for (
      const rule of ["inputs", "channels", "shape", "forward", "backward", "describe"] as const
    ) {
      assert.equal(typeof kind[rule], "function", `${op}.${rule}`);
    }
    assert.equal(typeof kind.onnx?.export, "function", `${op} exports to ONNX`);
  }
  assert.throws(
    () => layerKind("nope", "here"),
    /^RangeError: here: expected a layer kind \(input, conv/,
  );
  assert.throws(
    () => registerLayer(BUILTIN_LAYERS[1]),
    /expected a new layer kind but conv exists/,
  );
});

Deno.test("the built-in networks compile to every step kind of the plan format and to no other", () => {
  const seen = new Set<string>();
  for (const network of builtinNetworks()) {
    const size = network.sizeMultiple * 2;
    const plan = compilePlan(network, {
      batch: 1,
      height: size,
      width: size,
      dataTerm: { kind: "identity" },
      lr: 0.01,
      regNoiseStd: 0,
      emaDecay: 0,
    });
    for (const s of [...plan.forward, ...plan.loss, ...plan.backward, ...plan.update]) {
      seen.add(s.kind);
    }
  }
  // An odd size makes the concats crop; the SR term, EMA and ES-WMV add their steps.
  const odd = compilePlan(skip({ channelsDown: [4, 4], channelsSkip: [2, 2] }), {
    batch: 1,
    height: 9,
    width: 11,
    dataTerm: { kind: "compose", terms: [downsampleTerm(2), { kind: "mask" }] },
    lr: 0.01,
    regNoiseStd: 0,
    emaDecay: 0.99,
    earlyStopWindow: 3,
  });
  for (const s of [...odd.forward, ...odd.loss, ...odd.backward, ...odd.update]) seen.add(s.kind);
  assert.deepEqual(sorted(seen), sorted(STEP_KINDS));
});

// ---- a layer kind that only this file knows ---------------------------------------------

/** y = −x: a toy layer with its own step kind (forward and gradient are the same map). */
interface NegateNode {
  op: "toy_negate";
  id: string;
  input: string;
}

/** The toy's step: to (+)= −from. Not in engine/plan.ts; the reference gets its kernel below. */
interface NegateStep {
  readonly kind: "toy_negate";
  readonly from: View;
  readonly to: View;
  readonly accumulate: boolean;
}

const asStep = (s: NegateStep) => s as unknown as Step;

registerLayer(defineLayer<NegateNode>({
  op: "toy_negate",
  summary: "y = −x (a test's toy layer)",
  inputs: oneInput,
  channels: (_node, [c]) => c!,
  shape: (_node, [x]) => ({ ...x! }),
  forward: (node, ctx) =>
    ctx.emit(
      asStep({ kind: "toy_negate", from: ctx.view(node.input), to: ctx.y, accumulate: false }),
    ),
  backward: (node, ctx) => {
    if (!ctx.needsGrad(node.input)) return;
    ctx.gradientTo(
      node.input,
      (grad, _gslice, accumulate) =>
        asStep({ kind: "toy_negate", from: grad(node.id), to: grad(node.input), accumulate }),
    );
  },
  describe: (node) => `−x ← ${node.input}`,
}));

registerReferenceKernel<NegateStep>("toy_negate", (step, arenas: Arenas, ctx) => {
  const { from, to } = step;
  const n = from.c * from.h * from.w;
  for (let b = 0; b < ctx.batch; b++) {
    const src = arenas[from.arena], dst = arenas[to.arena];
    for (let i = 0; i < n; i++) {
      const v = -src[from.offset + b * from.batchStride + i]!;
      const at = to.offset + b * to.batchStride + i;
      dst[at] = step.accumulate ? dst[at]! + v : v;
    }
  }
});

/** z → conv → (toy_negate when `negate`) → conv → image: the toy and its built-in twin. */
function network(negate: boolean): Network {
  const nodes: { op: string; id: string; [k: string]: unknown }[] = [
    { op: "input", id: "z", channels: 2, downscale: 1 },
    {
      op: "conv",
      id: "c1",
      input: "z",
      outChannels: 3,
      kernel: 3,
      stride: 1,
      pad: "reflection",
      bias: true,
    },
    ...(negate ? [{ op: "toy_negate", id: "neg", input: "c1" }] : []),
    {
      op: "conv",
      id: "c2",
      input: negate ? "neg" : "c1",
      outChannels: 3,
      kernel: 3,
      stride: 1,
      pad: "zero",
      bias: true,
    },
  ];
  return {
    name: negate ? "toy" : "twin",
    // A kind registered at run time is outside models/graph.ts's static union.
    nodes: nodes as unknown as LayerNode[],
    output: "c2",
    inputChannels: 2,
    outputChannels: 3,
    sizeMultiple: 1,
  };
}

const OPTIONS: CompileOptions = {
  batch: 2,
  height: 6,
  width: 5,
  dataTerm: { kind: "identity" },
  lr: 0.01,
  regNoiseStd: 0.05,
  emaDecay: 0,
};

async function trainer(plan: Plan, target: Float32Array): Promise<ReferenceTrainer> {
  const t = new ReferenceTrainer(plan);
  await t.reset([3, 4]);
  const { z0 } = plan.io;
  t.upload("z0", new Float32Array(plan.batch * z0.c * z0.h * z0.w).map((_, i) => Math.sin(i)));
  t.upload("target", target);
  return t;
}

Deno.test("a layer kind registered at run time compiles, counts, describes and trains on the reference backend", async () => {
  const toy = network(true), twin = network(false);
  assert.equal(countParams(toy), countParams(twin));
  assert.match(describeNetwork(toy), /neg\s+toy_negate\s+3 ch\s+0 p\s+−x ← c1/);
  assert.throws(
    () =>
      exportOnnx(toy, {
        params: new Float32Array(countParams(toy)),
        z: new Float32Array(60),
        height: 6,
        width: 5,
      }),
    /neg is a toy_negate, which has none/,
  );

  const plan = compilePlan(toy, OPTIONS);
  const twinPlan = compilePlan(twin, OPTIONS);
  assert.equal(plan.forward.filter((s) => s.kind === ("toy_negate" as string)).length, 1);
  assert.equal(plan.backward.filter((s) => s.kind === ("toy_negate" as string)).length, 1);
  assert.equal(plan.paramsPerFit, twinPlan.paramsPerFit);
  assert.match(describePlan(plan), /toy_negate +neg +from act@\d+\[3×6×5\], to act@\d+\[3×6×5\]/);

  // The twin's c2 weight is the toy's negated, so both compute the same function: c2(−a; W) =
  // c2(a; −W) term by term, and Adam keeps the weights opposite (its update is odd in the
  // gradient). Same seeds and data: the outputs agree exactly after every step.
  const target = new Float32Array(2 * 3 * 30).map((_, i) => (i % 7) / 7);
  const a = await trainer(plan, target), b = await trainer(twinPlan, target);
  const w2 = plan.params.find((p) => p.name === "c2.weight")!.ref;
  for (let fit = 0; fit < 2; fit++) {
    for (let i = 0; i < w2.size; i++) {
      const at = fit * plan.paramsPerFit + w2.offset + i;
      b.arenas.param[at] = -a.arenas.param[at]!;
    }
  }
  a.run(1);
  b.run(1);
  const first = (await a.readScalars()).loss;
  a.run(20);
  b.run(20);
  assert.deepEqual(await a.read("output"), await b.read("output"));
  const loss = (await a.readScalars()).loss;
  assert.deepEqual(loss, (await b.readScalars()).loss);
  assert.ok(loss.every((l, i) => l < first[i]!), `the toy network trains: ${first} → ${loss}`);
});
