/**
 * @portable-pubsub/driver-nats: `nats://`, NATS JetStream through the
 * official @nats-io clients. Work in progress.
 */
export {};
