/**
 * The delay queues a subscription's failed messages may have created, for
 * test cleanup: one per bucket of delays up to `maxMs` (see
 * src/delay-queues.ts). Deleting a queue that does not exist is not an error.
 */
import { bucketOf, delayQueueName } from "../dist/delay-queues.js";

export function delayQueuesOf(queue: string, maxMs = 131_072): string[] {
  const names: string[] = [];
  for (let bucket = 1; bucket <= maxMs; bucket = bucketOf(bucket + 1)) names.push(delayQueueName(queue, bucket));
  return names;
}
