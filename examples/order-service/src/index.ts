/** The order service as a library, for embedding and tests; `main.ts` is the executable. */
export { type Config, loadConfig } from "./config.js";
export { Logger } from "./log.js";
export { newOrder, type Order, type OrderRequest, OrderSchema, orderMessage, parseOrderRequest } from "./orders.js";
export { OrderProcessor, type ProcessorStats } from "./processor.js";
export { type SelfTestResult, selfTest } from "./self-test.js";
export { OrderService } from "./service.js";
