/**
 * Prometheus metric names the runtime exports (all prefixed `engram_`), shared with the operator
 * (ServiceMonitors, HPA external metrics, dashboards). Labels are listed beside each name.
 */
export const METRIC_PREFIX = 'engram_';

export const METRICS = {
  // Worker framework (every consuming role). Labels: role, topic.
  messagesProcessed: 'engram_messages_processed_total',
  /** Failed processing attempts (a message retried 3 times counts 3). Labels: role, topic, reason (unavailable|transient|error|poison). */
  messagesFailed: 'engram_messages_failed_total',
  /** Messages written to the dlq topic. Labels: role, topic, reason (poison|exhausted). */
  messagesDeadLettered: 'engram_messages_dead_lettered_total',
  /** Dead letters the dlq refused whole; alert on outcome="dropped". Labels: role, topic, outcome (truncated|dropped). */
  deadLetterFailures: 'engram_dead_letter_failures_total',
  /** Wall time of one partition batch, fetch to offsets resolved. Labels: role, topic. */
  batchDuration: 'engram_batch_duration_seconds',
  /** Wall time of one processor call on a group of messages (sizes the rebalance timeout). Labels: role, topic. */
  handlerDuration: 'engram_handler_duration_seconds',
  /** Messages per partition batch. Labels: role, topic. */
  batchSize: 'engram_batch_messages',
  /** Lag seen by the consumer: high watermark minus next offset to process. Labels: role, topic, partition. */
  consumerLag: 'engram_consumer_lag',
  /** Messages taken but not yet resolved. Labels: role. */
  inFlight: 'engram_messages_in_flight',
  /** Cache lookups. Labels: role, cache (embedding|idempotency|query). */
  cacheHits: 'engram_cache_hits_total',
  cacheMisses: 'engram_cache_misses_total',
  /** Messages produced to a topic. Labels: role, topic. */
  messagesProduced: 'engram_messages_produced_total',

  // Gateway. Labels as noted.
  /** Labels: route, status (HTTP code). */
  httpRequests: 'engram_http_requests_total',
  /** Labels: route. */
  httpRequestDuration: 'engram_http_request_duration_seconds',
  /** Documents accepted for ingestion. Labels: tenant, status (accepted|duplicate). */
  documentsIngested: 'engram_documents_ingested_total',
  /** Requests refused. Labels: tenant (or "unknown"), reason (unauthenticated|forbidden|rate_limited|too_large|invalid|unsupported_media_type). */
  requestsRejected: 'engram_requests_rejected_total',
  /** Tenants with at least one API key loaded. No labels. */
  tenantsLoaded: 'engram_tenants_loaded',

  // Ingest.
  /** Labels: tenant. */
  chunksEmitted: 'engram_chunks_emitted_total',
  /** Tokens per emitted chunk. No labels. */
  chunkTokens: 'engram_chunk_tokens',

  // Embed.
  /** Texts run through the model (cache misses). Labels: model, variant. */
  embeddingsComputed: 'engram_embeddings_computed_total',
  /** Wall time of one model call. Labels: model, variant. */
  embeddingDuration: 'engram_embedding_duration_seconds',
  /** Chunk nodes written (created or updated) in Neo4j. No labels. */
  chunksWritten: 'engram_chunks_written_total',
  /** Chunk writes refused because the Document already holds a newer version. No labels. */
  staleChunksSkipped: 'engram_stale_chunks_skipped_total',
  /** Inference calls past ENGRAM_INFERENCE_TIMEOUT_MS (each fails its group as transient). No labels. */
  inferenceTimeouts: 'engram_inference_timeouts_total',
  /** Wall time of one Neo4j write transaction. Labels: operation. */
  graphWriteDuration: 'engram_graph_write_duration_seconds',

  // Extract.
  /** Requests to the chat-completions endpoint. Labels: outcome (ok|malformed|timeout|rate_limited|server_error|failed|refused|unreachable). */
  extractionRequests: 'engram_extraction_requests_total',
  /** Wall time of one chat-completions request. No labels. */
  extractionRequestDuration: 'engram_extraction_request_duration_seconds',
  /** Entities and relations produced to graph.resolve. Labels: extractor (built-in|chat-completions). */
  entitiesExtracted: 'engram_entities_extracted_total',
  relationsExtracted: 'engram_relations_extracted_total',

  // Resolve.
  /** Entity names resolved. Labels: stage (exact|vector|confirmed|batch|new). */
  entitiesResolved: 'engram_entities_resolved_total',
  /** Relation statements written (created or replayed). No labels. */
  relationsWritten: 'engram_relations_written_total',

  // Query.
  /** Wall time of one query, cache lookup included. Labels: cached (true|false). */
  queryDuration: 'engram_query_duration_seconds',
} as const;

export type MetricName = (typeof METRICS)[keyof typeof METRICS];

/**
 * Names the dashboard (config/grafana/) and the chart's alerts already use but no code exports
 * yet; whoever adds the metric exports it under exactly this name and moves it out of here.
 */
export const PLANNED_METRICS = {
  /** Query role: wall time of one query, request to answer (histogram). Labels: role. */
  queryDuration: 'engram_query_duration_seconds',
} as const;
