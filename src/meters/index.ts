// rate-limited-client/meters: meters for APIs that bill more than requests (OpenAI, Anthropic).
export type { Meter, MeterRequest, MeterResponse, CurrencyBudget, UsageReader, MeterRefusal } from '../core/meter.js';
export type { Cost } from '../core/cost.js';
export { openai } from './openai.js';
export type { OpenAIMeterOptions } from './openai.js';
export { anthropic } from './anthropic.js';
export type { AnthropicMeterOptions } from './anthropic.js';
export type { Tokenizer } from './request-body.js';
