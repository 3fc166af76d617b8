#!/usr/bin/env python3
"""PyTorch twin of dipline's benchmark: the same Deep Image Prior networks and training step.

Written for this project from the description of the reference implementation in
shared/REFERENCE.md section 1a-1c (Ulyanov et al., CVPR 2018): the `skip()` network with its
options, the Lanczos2 downsampler used by the super-resolution data term, masked MSE for
inpainting, PyTorch-default initialisation, Adam at lr 0.01, per-step input noise and an EMA
of the output. It prints the same JSON keys as `deno run -A cli.ts bench --json`, so
bench/side_by_side.ts can put the two next to each other.

Usage:
    python3 bench/torch_dip.py --preset denoise --size 128 --steps 20 --json
    python3 bench/torch_dip.py --device cuda --size 512 --json
    python3 bench/torch_dip.py --check

Runs on PyTorch 1.13 (Debian's python3-torch) and 2.x.
"""

import argparse
import json
import math
import os
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:  # Reported as one JSON-friendly line so side_by_side.ts can say why.
    print("torch_dip.py: PyTorch is not installed for " + sys.executable, file=sys.stderr)
    sys.exit(3)

# REFERENCE.md 1a: parameter counts of the notebooks' networks (BN counted as 2 per channel).
STANDARD_PARAMS = 2_217_831  # denoise F16 / SR: skip 32->3, nd=nu=[128]*5, ns=[4]*5
INPAINT_PARAMS = 3_002_627  # inpaint kate: skip 32->3, nd=nu=ns=[128]*5, nearest

# REFERENCE.md 1c: input depth 32, Adam lr 0.01, EMA 0.99, reg noise per notebook.
INPUT_DEPTH = 32
LEARNING_RATE = 0.01
EMA_DECAY = 0.99
REG_NOISE_STD = {"denoise": 1.0 / 30.0, "sr": 0.03, "inpaint": 0.03}
SR_FACTOR = 4  # super-resolution x4 notebook


# ---- the network ----------------------------------------------------------------------------


def conv(in_ch, out_ch, kernel, stride=1, pad="reflection"):
    """The reference `conv()` helper: reflection pad (k-1)/2 then an unpadded conv, with bias."""
    p = (kernel - 1) // 2
    if pad == "reflection" and p > 0:
        return nn.Sequential(nn.ReflectionPad2d(p), nn.Conv2d(in_ch, out_ch, kernel, stride, 0))
    return nn.Conv2d(in_ch, out_ch, kernel, stride, p)


def bn_act(channels):
    """BatchNorm2d in training mode (the net is never put in eval()) then LeakyReLU(0.2)."""
    return [nn.BatchNorm2d(channels), nn.LeakyReLU(0.2, inplace=True)]


class CentreCropConcat(nn.Module):
    """The reference `Concat(dim=1)`: every branch centre-cropped to the smallest H and W."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        outs = [b(x) for b in self.branches]
        h = min(o.shape[2] for o in outs)
        w = min(o.shape[3] for o in outs)
        cropped = []
        for o in outs:
            dh = (o.shape[2] - h) // 2
            dw = (o.shape[3] - w) // 2
            cropped.append(o[:, :, dh : dh + h, dw : dw + w])
        return torch.cat(cropped, dim=1)


def skip(
    in_ch,
    out_ch,
    nd,
    nu,
    ns,
    kd=3,
    ku=3,
    ks=1,
    upsample="bilinear",
    pad="reflection",
    need1x1_up=True,
    need_sigmoid=True,
):
    """`skip()` of REFERENCE.md 1a: an encoder-decoder with optional skip branches per level.

    Built from the deepest level outwards; level i is
    [Concat(skip_i, deeper_i) | deeper_i] -> BN -> conv(ku) -> BN -> act [-> conv1x1 -> BN -> act].
    """
    levels = len(nd)
    if not (len(nu) == len(ns) == levels):
        raise ValueError(
            "skip: expected nd, nu and ns of one length but received %d, %d, %d"
            % (len(nd), len(nu), len(ns))
        )
    align = {"align_corners": False} if upsample == "bilinear" else {}
    inner = None  # the container of level i + 1, built first
    for i in reversed(range(levels)):
        d_in = in_ch if i == 0 else nd[i - 1]
        deeper = [conv(d_in, nd[i], kd, 2, pad), *bn_act(nd[i]), conv(nd[i], nd[i], kd, 1, pad)]
        deeper += bn_act(nd[i])
        if inner is not None:
            deeper.append(inner)
        deeper.append(nn.Upsample(scale_factor=2, mode=upsample, **align))
        deeper = nn.Sequential(*deeper)
        k = nu[i + 1] if i + 1 < levels else nd[i]
        if ns[i] > 0:
            skip_branch = nn.Sequential(conv(d_in, ns[i], ks, 1, pad), *bn_act(ns[i]))
            body = [CentreCropConcat(skip_branch, deeper)]
        else:
            body = [deeper]
        body += [nn.BatchNorm2d(ns[i] + k), conv(ns[i] + k, nu[i], ku, 1, pad), *bn_act(nu[i])]
        if need1x1_up:
            body += [conv(nu[i], nu[i], 1, 1, pad), *bn_act(nu[i])]
        inner = nn.Sequential(*body)
    head = [inner, conv(nu[0], out_ch, 1, 1, pad)]
    if need_sigmoid:
        head.append(nn.Sigmoid())
    return nn.Sequential(*head)


def preset_network(preset, channels):
    """The bench presets, as in cli/bench.ts: denoise and sr share one net, inpaint has wide skips."""
    c = [channels] * 5
    if preset in ("denoise", "sr"):
        return skip(INPUT_DEPTH, 3, c, c, [4] * 5, upsample="bilinear")
    if preset == "inpaint":
        return skip(INPUT_DEPTH, 3, c, c, c, upsample="nearest")
    raise ValueError("torch_dip: expected preset denoise, sr or inpaint but received %r" % preset)


def count_params(net):
    return sum(p.numel() for p in net.parameters())


def forward_macs(net, x):
    """Multiply-adds of the convolutions in one forward pass of one image (hooks on Conv2d)."""
    total = [0]

    def hook(module, _inputs, output):
        k_h, k_w = module.kernel_size
        per_out = module.in_channels // module.groups * k_h * k_w
        total[0] += output.numel() // output.shape[0] * per_out

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return total[0]


# ---- the data terms -------------------------------------------------------------------------


def lanczos2_taps(factor):
    """1-D Lanczos2 kernel of the reference Downsampler (phase 0.5): 4*factor taps, sum 1.

    REFERENCE.md 1b: width w = 4f+1, entries i = 1..w-1, centre c = (w+1)/2,
    d = |i + 0.5 - c| / f, L(d) = a sin(pi d) sin(pi d / a) / (pi^2 d^2), a = 2.
    """
    support = 2
    width = 4 * factor + 1
    centre = (width + 1) / 2
    taps = []
    for i in range(1, width):
        d = abs(i + 0.5 - centre) / factor
        if d == 0:
            taps.append(1.0)
        else:
            taps.append(
                support * math.sin(math.pi * d) * math.sin(math.pi * d / support) / (math.pi**2 * d * d)
            )
    s = sum(taps)
    return [t / s for t in taps]


class LanczosDownsample(nn.Module):
    """Fixed (not trained) Lanczos2 downsampling by `factor`, replicate padding, exactly H/f.

    The reference applies K = taps (x) taps as a diagonal n->n conv; a depthwise conv is the same
    operator. Padding (K - f) / 2 (REFERENCE.md 1b: 6 for f=4).
    """

    def __init__(self, channels, factor):
        super().__init__()
        taps = torch.tensor(lanczos2_taps(factor), dtype=torch.float32)
        kernel = torch.outer(taps, taps).expand(channels, 1, -1, -1).contiguous()
        self.register_buffer("kernel", kernel)
        self.factor = factor
        self.pad = (taps.numel() - factor) // 2
        self.channels = channels

    def forward(self, x):
        p = self.pad
        x = F.pad(x, (p, p, p, p), mode="replicate")
        return F.conv2d(x, self.kernel, stride=self.factor, groups=self.channels)


# ---- one fit --------------------------------------------------------------------------------


class Fit:
    """One DIP fit: network, fixed input z0, observation, Adam, EMA of the output."""

    def __init__(self, preset, channels, size, device, seed):
        gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # PyTorch-default init: conv U(+-1/sqrt(fan_in)), BN 1 and 0
        self.net = preset_network(preset, channels).to(device)
        self.reg_noise_std = REG_NOISE_STD[preset]
        # REFERENCE.md 1d get_noise: U[0,1) * 0.1
        self.z0 = (torch.rand(1, INPUT_DEPTH, size, size, generator=gen) * 0.1).to(device)
        observed = size // SR_FACTOR if preset == "sr" else size
        self.target = torch.rand(1, 3, observed, observed, generator=gen).to(device)
        self.mask = None
        self.downsample = None
        if preset == "inpaint":  # Bernoulli keep 50%, one mask for all channels
            self.mask = (torch.rand(1, 1, size, size, generator=gen) > 0.5).float().to(device)
        if preset == "sr":
            self.downsample = LanczosDownsample(3, SR_FACTOR).to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=LEARNING_RATE)
        self.ema = None
        self.loss = None
        self.psnr = None

    def step(self):
        """Input noise -> forward -> data term -> MSE -> backward -> Adam -> EMA, PSNR (no sync)."""
        z = self.z0 + torch.randn_like(self.z0) * self.reg_noise_std
        out = self.net(z)
        pred = out
        if self.downsample is not None:
            pred = self.downsample(out)
        if self.mask is not None:
            loss = F.mse_loss(pred * self.mask, self.target * self.mask)
        else:
            loss = F.mse_loss(pred, self.target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            detached = out.detach()
            if self.ema is None:
                self.ema = detached.clone()
            else:
                self.ema.mul_(EMA_DECAY).add_(detached, alpha=1 - EMA_DECAY)
            self.psnr = -10 * torch.log10(F.mse_loss(pred.detach(), self.target))
        self.loss = loss.detach()


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_bench(args):
    device = torch.device(args.device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("torch_dip.py: expected a CUDA device but torch.cuda.is_available() is False")
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
    if args.size % 32 != 0 or args.size < 64:  # 5 levels; reflection padding needs 2 pixels
        raise SystemExit(
            "torch_dip.py: expected --size a multiple of 32, at least 64, but received %d" % args.size
        )

    t_start = time.perf_counter()
    fits = [Fit(args.preset, args.channels, args.size, device, seed=b) for b in range(args.batch)]
    synchronise(device)
    compile_ms = (time.perf_counter() - t_start) * 1000

    params = count_params(fits[0].net)
    if args.preset in ("denoise", "sr") and args.channels == 128 and params != STANDARD_PARAMS:
        raise SystemExit(
            "torch_dip.py: expected %d parameters for the standard net but counted %d"
            % (STANDARD_PARAMS, params)
        )
    macs = forward_macs(fits[0].net, fits[0].z0)

    for f in fits:
        f.step()
    first_losses = [f.loss.item() for f in fits]  # .item() waits for the device
    first_step_ms = (time.perf_counter() - t_start) * 1000

    for _ in range(args.warmup):
        for f in fits:
            f.step()
    synchronise(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        for f in fits:
            f.step()
    losses = [f.loss.item() for f in fits]
    psnrs = [f.psnr.item() for f in fits]
    synchronise(device)
    elapsed_ms = (time.perf_counter() - t0) * 1000

    ms_per_step = elapsed_ms / max(args.steps, 1)
    gflop_per_step = 3 * macs * 2 * args.batch / 1e9  # a step ~ 3 x forward; 1 MAC = 2 FLOP
    if device.type == "cuda":
        adapter = torch.cuda.get_device_name(device)
    else:
        adapter = "torch %s cpu, %d threads" % (torch.__version__, torch.get_num_threads())
    return {
        "engine": "torch-" + device.type,
        "adapter": adapter,
        "torch": torch.__version__,
        "preset": args.preset,
        "channels": args.channels,
        "params": params,
        "size": args.size,
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "warmup": args.warmup,
        "tf32": bool(args.tf32 and device.type == "cuda"),
        "forwardMacs": macs,
        "msPerStep": ms_per_step,
        "gflopPerStep": gflop_per_step,
        "gflops": gflop_per_step / (ms_per_step / 1000) if ms_per_step > 0 else None,
        "firstStepMs": first_step_ms,
        "compileMs": compile_ms,
        "firstLoss": first_losses,
        "loss": losses,
        "psnrObserved": psnrs,
    }


def check_counts():
    """Parameter counts of every preset against REFERENCE.md 1a; returns the rows printed."""
    expected = [
        ("denoise", 128, STANDARD_PARAMS),
        ("sr", 128, STANDARD_PARAMS),
        ("inpaint", 128, INPAINT_PARAMS),
    ]
    rows = []
    ok = True
    # The 32-channel variants have no reference number; forward MACs are at 64^2.
    for preset, channels, want in expected + [(p, 32, None) for p in ("denoise", "sr", "inpaint")]:
        net = preset_network(preset, channels)
        got = count_params(net)
        macs = forward_macs(net, torch.zeros(1, INPUT_DEPTH, 64, 64))
        rows.append(
            {"preset": preset, "channels": channels, "params": got, "expected": want, "forwardMacs64": macs}
        )
        ok = ok and (want is None or got == want)
    # The Lanczos2 x4 taps from the centre out (REFERENCE.md 1b): 0.2397, 0.1831, 0.0987 ...
    half = lanczos2_taps(4)[8:]
    want_half = [0.2397, 0.1831, 0.0987, 0.0246, -0.0149, -0.0204, -0.0098, -0.0011]
    taps_ok = all(abs(a - b) < 6e-5 for a, b in zip(half, want_half))
    ok = ok and taps_ok
    return ok, rows, taps_ok


# ---- one restoration for bench/quality.ts --reduced (added by the dipFit engineer) -----------


def run_fit(spec_path):
    """Fits one image as bench/quality.ts describes it in a JSON spec; writes the result.

    Spec keys: task (denoise | sr | inpaint), observation (raw float32 CHW file), shape [C, H, W]
    of the observation, mask (raw float32 1xHxW, optional), factor, nd, nu, ns, upsample,
    inputDepth, regNoise, lr, iterations, ema (0 = off), backtracking, checkEvery, seed, device,
    output (raw float32 CHW file of the result, H*factor x W*factor). Sizes must already be
    multiples of 2^levels (quality.ts crops them so). Prints one JSON object.
    """
    with open(spec_path) as f:
        spec = json.load(f)
    device = torch.device(spec.get("device", "cpu"))
    torch.manual_seed(spec["seed"])
    c, h, w = spec["shape"]
    factor = spec.get("factor", 1)
    target = torch.from_numpy(_read_f32(spec["observation"], (1, c, h, w))).to(device)
    mask = None
    if spec.get("mask"):
        mask = torch.from_numpy(_read_f32(spec["mask"], (1, 1, h, w))).to(device)
    net = skip(spec["inputDepth"], c, spec["nd"], spec["nu"], spec["ns"], upsample=spec["upsample"])
    net = net.to(device)
    z0 = (torch.rand(1, spec["inputDepth"], h * factor, w * factor) * 0.1).to(device)  # get_noise
    down = LanczosDownsample(c, factor).to(device) if factor > 1 else None
    optimizer = torch.optim.Adam(net.parameters(), lr=spec["lr"])
    ema, last_psnr, snapshot = None, None, None
    check_every = spec.get("checkEvery", 50)
    t0 = time.perf_counter()
    for i in range(spec["iterations"]):
        z = z0 + torch.randn_like(z0) * spec["regNoise"]
        out = net(z)
        pred = down(out) if down is not None else out
        if mask is not None:
            loss = F.mse_loss(pred * mask, target * mask)
        else:
            loss = F.mse_loss(pred, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            if spec["ema"] > 0:
                if ema is None:
                    ema = out.detach().clone()
                else:
                    ema.mul_(spec["ema"]).add_(out.detach(), alpha=1 - spec["ema"])
            # Backtracking every check, as dipline does (reference: every step, 5 dB drop)
            if spec.get("backtracking") and (i + 1) % check_every == 0:
                psnr = (-10 * torch.log10(F.mse_loss(pred, target))).item()
                if last_psnr is not None and psnr - last_psnr < -5:
                    net.load_state_dict(snapshot[0])
                    optimizer.load_state_dict(snapshot[1])
                else:
                    snapshot = (
                        {k: v.detach().clone() for k, v in net.state_dict().items()},
                        _clone_state(optimizer.state_dict()),
                    )
                    last_psnr = psnr
    synchronise(device)
    ms = (time.perf_counter() - t0) * 1000
    result = (ema if ema is not None else out.detach())[0].cpu().numpy().astype("float32")
    result.tofile(spec["output"])
    print(json.dumps({"engine": "torch-" + device.type, "iterations": spec["iterations"],
                      "msPerStep": ms / max(1, spec["iterations"]), "torch": torch.__version__}))
    return 0


def _read_f32(path, shape):
    import numpy as np

    return np.fromfile(path, dtype="float32").reshape(shape)


def _clone_state(state):
    if isinstance(state, dict):
        return {k: _clone_state(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_clone_state(v) for v in state]
    return state.clone() if torch.is_tensor(state) else state


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=["denoise", "sr", "inpaint"], default="denoise")
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1, help="independent fits, stepped in turn")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--no-tf32",
        dest="tf32",
        action="store_false",
        help="CUDA: full fp32 convolutions (dipline computes in fp32)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--check", action="store_true", help="check every preset's parameter count")
    parser.add_argument("--fit", metavar="SPEC.json", help="fit one image (bench/quality.ts --reduced)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.fit:
        return run_fit(args.fit)

    if args.check:
        ok, rows, taps_ok = check_counts()
        if args.json:
            taps = lanczos2_taps(SR_FACTOR)
            print(json.dumps({"ok": ok, "presets": rows, "lanczosTapsOk": taps_ok, "lanczos2x4": taps}))
        else:
            for r in rows:
                want = "" if r["expected"] is None else " (expected %d)" % r["expected"]
                row = (r["preset"], r["channels"], r["params"], r["forwardMacs64"], want)
                print("%-8s C=%-4d %10d params %12d MACs at 64^2%s" % row)
            print("lanczos2 x4 taps", "match" if taps_ok else "DIFFER", "REFERENCE.md 1b")
            print("ok" if ok else "MISMATCH")
        return 0 if ok else 1

    for name in ("size", "channels", "steps", "batch", "threads"):
        if getattr(args, name) < 1:
            parser.error("expected --%s a positive integer but received %d" % (name, getattr(args, name)))
    result = run_bench(args)
    if args.json:
        print(json.dumps(result))
    else:
        print("engine        %s (%s)" % (result["engine"], result["adapter"]))
        print("network       %s C=%d, %d params" % (args.preset, args.channels, result["params"]))
        print("size x batch  %d^2 x %d" % (args.size, args.batch))
        print("compile       %.1f ms" % result["compileMs"])
        print("first step    %.1f ms" % result["firstStepMs"])
        print("per step      %.2f ms (%d steps after %d warm-up)" % (result["msPerStep"], args.steps, args.warmup))
        print("GFLOP / step  %.3f" % result["gflopPerStep"])
        print("GFLOP/s       %.2f" % (result["gflops"] or 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
