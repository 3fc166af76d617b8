// Entry of the dipline wasm kernels: every exported function is one kernel (see the modules).
export { conv_bwd_data, conv_bwd_weight, conv_fwd } from "./conv";
export { wino_bwd_data, wino_bwd_weight, wino_fwd } from "./winograd";
export { wino4_bwd_data, wino4_bwd_weight, wino4_fwd } from "./winograd4";
export {
  act_bwd,
  act_fwd,
  add_fwd,
  bn_act_bwd,
  bn_act_fwd,
  crop,
  pool_bwd,
  pool_fwd,
  resample_bwd,
  resample_fwd,
  upsample_bwd,
  upsample_fwd,
} from "./layers";
export { adam, ema, gaussian_at, input_noise, mse_loss, psnr, wmv } from "./train";
