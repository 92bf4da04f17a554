// The attention kernels' limits, in one place. They mirror native/core/attention_limits.h;
// the addon will export them (native().buildInfo.maxHeadDim), and this file will read them there.

/** The largest head dim any attention kernel serves. */
export const MAX_HEAD_DIM = 256;

/** The largest int32: the kernels index masks, layouts and tile lists with int32. */
export const INT32_MAX = 2 ** 31 - 1;
