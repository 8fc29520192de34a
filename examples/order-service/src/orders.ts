import { randomUUID } from "node:crypto";
import { ErrorCode, PubSubError, type TypedOutgoingMessage } from "@portable-pubsub/core";
import { z } from "zod";

/** What a client posts. */
export interface OrderRequest {
  item: string;
  quantity: number;
  customer?: string;
}

/** An order as it travels through the broker. */
export interface Order extends OrderRequest {
  id: string;
  createdAt: string;
}

/** Checks a parsed request body; throws InvalidArgument naming the first problem. */
export function parseOrderRequest(body: unknown): OrderRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new PubSubError(
      ErrorCode.InvalidArgument,
      'the body must be a JSON object like {"item": "book", "quantity": 1}',
    );
  }
  const { item, quantity, customer, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0)
    throw new PubSubError(
      ErrorCode.InvalidArgument,
      `unknown field "${unknown[0]}"; fields are item, quantity, customer`,
    );
  if (typeof item !== "string" || item.length === 0 || item.length > 200) {
    throw new PubSubError(ErrorCode.InvalidArgument, '"item" must be a non-empty string of at most 200 characters');
  }
  if (typeof quantity !== "number" || !Number.isInteger(quantity) || quantity < 1 || quantity > 1000) {
    throw new PubSubError(ErrorCode.InvalidArgument, '"quantity" must be a whole number from 1 to 1000');
  }
  if (customer !== undefined && (typeof customer !== "string" || customer.length > 200)) {
    throw new PubSubError(ErrorCode.InvalidArgument, '"customer" must be a string of at most 200 characters');
  }
  return customer === undefined ? { item, quantity } : { item, quantity, customer };
}

export function newOrder(request: OrderRequest): Order {
  return { id: randomUUID(), ...request, createdAt: new Date().toISOString() };
}

/**
 * An order as it travels through the broker, as a schema: the topic checks
 * each order it sends, and the subscription each one it receives, before the
 * handler. The topic may carry messages of other producers, or of another
 * version of this service: one that fails it is dead-lettered at once, with
 * the reason, and never reaches the handler.
 */
export const OrderSchema = z
  .object({
    id: z.string().min(1),
    item: z.string().min(1).max(200),
    quantity: z.number().int().min(1).max(1000),
    customer: z.string().max(200).optional(),
    createdAt: z.string(),
  })
  .strict();

/** The message an order is sent as: its data (JSON on the wire), with its id in metadata for logs and routing. */
export function orderMessage(order: Order): TypedOutgoingMessage<Order> {
  return { data: order, metadata: { "order-id": order.id } };
}
