import { deepStrictEqual as deepEqual, ok, throws } from "node:assert/strict";
import { downsampleTerm } from "../engine/compile.ts";
import { compose, identity, lanczosDown, mask } from "../ops/operators.ts";

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-6): void {
  deepEqual(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    ok(
      Math.abs(actual[i]! - expected[i]!) <= tolerance,
      `index ${i}: expected ${expected[i]} but received ${actual[i]}`,
    );
  }
}

Deno.test("identity() and mask() map to their data terms and apply on the CPU", () => {
  const x = new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
  deepEqual(identity().dataTerm, { kind: "identity" });
  deepEqual(identity().apply(x, 2, 2, 2), x);
  const m = mask();
  deepEqual(m.dataTerm, { kind: "mask" });
  deepEqual(m.usesMask, true);
  // the 1-channel mask broadcasts over both channels
  close(m.apply(x, 2, 2, 2, new Float32Array([1, 0, 0, 1])), [0.1, 0, 0, 0.4, 0.5, 0, 0, 0.8]);
  throws(() => m.apply(x, 2, 2, 2), /expected a 1×2×2 mask for mask\(\) but received none/);
});

Deno.test("lanczosDown() keeps a constant image constant at exactly H/f × W/f", () => {
  for (const factor of [2, 4, 8]) {
    const op = lanczosDown(factor);
    deepEqual(op.dataTerm, downsampleTerm(factor));
    deepEqual(op.outputSize(16, 24), { height: 16 / factor, width: 24 / factor });
    const out = op.apply(new Float32Array(16 * 24).fill(0.25), 1, 16, 24);
    deepEqual(out.length, (16 / factor) * (24 / factor));
    close(out, new Float32Array(out.length).fill(0.25));
  }
  throws(() => lanczosDown(3), /expected 2, 4 or 8 for lanczosDown factor but received 3/);
  throws(() => lanczosDown(2).outputSize(5, 4), /divisible by 2/);
});

Deno.test("lanczosDown() of an impulse is the separable kernel with replicate padding", () => {
  const factor = 2;
  const term = downsampleTerm(factor);
  if (term.kind !== "downsample") throw new Error("expected a downsample term");
  const size = 16;
  const x = new Float32Array(size * size);
  const [y0, x0] = [7, 9];
  x[y0 * size + x0] = 1;
  const out = lanczosDown(factor).apply(x, 1, size, size);
  const half = size / factor;
  for (let oy = 0; oy < half; oy++) {
    for (let ox = 0; ox < half; ox++) {
      const ty = y0 - oy * factor + term.pad;
      const tx = x0 - ox * factor + term.pad;
      const expected = (term.taps[ty] ?? 0) * (term.taps[tx] ?? 0);
      close([out[oy * half + ox]!], [expected]);
    }
  }
  // an impulse on the border is replicated into the padding: its weight grows
  const edge = new Float32Array(size * size);
  edge[0] = 1;
  const corner = lanczosDown(factor).apply(edge, 1, size, size)[0]!;
  const weight = term.taps.slice(0, term.pad + 1).reduce((a, b) => a + b, 0);
  close([corner], [weight * weight]);
});

Deno.test("compose() applies left to right, flattens and keeps a mask last", () => {
  const op = compose(lanczosDown(2), mask());
  deepEqual(op.dataTerm, { kind: "compose", terms: [downsampleTerm(2), { kind: "mask" }] });
  deepEqual([op.usesMask, op.factor], [true, 2]);
  deepEqual(op.outputSize(8, 4), { height: 4, width: 2 });
  const x = new Float32Array(2 * 8 * 4).map((_, i) => (i % 7) / 7);
  const m = new Float32Array([1, 0, 1, 1, 0, 1, 1, 0]);
  const expected = mask().apply(lanczosDown(2).apply(x, 2, 8, 4), 2, 4, 2, m);
  close(op.apply(x, 2, 8, 4, m), expected);

  const twice = compose(compose(identity(), lanczosDown(2)), lanczosDown(2));
  deepEqual(twice.factor, 4);
  deepEqual(twice.dataTerm, { kind: "compose", terms: [downsampleTerm(2), downsampleTerm(2)] });
  deepEqual(twice.outputSize(16, 8), { height: 4, width: 2 });
  deepEqual(compose(identity(), lanczosDown(4)).dataTerm, downsampleTerm(4));
  deepEqual(compose().dataTerm, { kind: "identity" });
  throws(() => compose(mask(), lanczosDown(2)), /expected mask\(\) last in compose\(\)/);
});
