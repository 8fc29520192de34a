import type { DriverTelemetry } from "@portable-pubsub/core/driver";
import type { PgLink } from "./connection.js";

/** `messaging.system` of pg://, as the OpenTelemetry conventions name PostgreSQL's database system. */
export const MESSAGING_SYSTEM = "postgresql";

/** The telemetry facts of a pg:// topic or subscription on `link`. */
export function telemetryFor(link: PgLink, topic: string, subscription?: string): DriverTelemetry {
  const hostPort = link.display.split("/")[0] ?? "";
  const colon = hostPort.lastIndexOf(":");
  const port = Number(hostPort.slice(colon + 1));
  return {
    system: MESSAGING_SYSTEM,
    destination: topic,
    ...(subscription === undefined ? {} : { subscription, consumerGroup: subscription }),
    ...(colon > 0 && Number.isInteger(port) ? { serverAddress: hostPort.slice(0, colon), serverPort: port } : {}),
  };
}
