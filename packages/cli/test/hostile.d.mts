import type { DriverModule } from "@portable-pubsub/core/driver";

export const BODY: string;
export const BINARY: number[];
export const LINK: string;
export const hostileDriver: DriverModule;
export function prepare(
  command: "receive" | "redrive",
  id: string,
): Promise<{ args: string[]; done: () => Promise<void> }>;
