// The benchmarking API: timing (device and host), sweeps, comparison tables, writers, plots.
export { benchmark, Measurement, quantile, summarize, chooseBlockSize, timeBlocks, timeUnit } from './timer';
export type { BenchmarkOptions, MeasurementJSON, MeasurementParams } from './timer';
export { compare, Comparison, formatRatio } from './compare';
export type { CompareOptions, ComparisonCell, ComparisonGroup } from './compare';
export { toJSON, fromJSON, toMarkdown, toCSV, formatTime } from './report';
export { runSweep, describeParams } from './sweep';
export type { SweepOptions, SweepResult, SweepWork, SkippedCase } from './sweep';
export { plotMeasurements, plotSpec, renderSVG, renderPNG } from './plot';
export type { PlotOptions, PlotFiles, PlotStatistic } from './plot';
export { hostBenchmark } from './host';
export type { HostBenchmarkOptions, HostMeasurement } from './host';
