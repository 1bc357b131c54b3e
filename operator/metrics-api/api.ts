/**
 * The External Metrics API (`external.metrics.k8s.io/v1beta1`) as a pure function of a request:
 * discovery documents, metric value lists, and Status errors the API server passes on to the
 * caller (kubectl, the HPA controller) unchanged.
 */
import { EXTERNAL_METRICS_GROUP, EXTERNAL_METRICS_VERSION } from '../api/external-metrics.ts';
import { parseLabelSelector, type Requirement, SelectorError } from './selector.ts';

const GROUP_VERSION = `${EXTERNAL_METRICS_GROUP}/${EXTERNAL_METRICS_VERSION}`;

/** One item of an ExternalMetricValueList (k8s.io/metrics external/v1beta1). */
export interface ExternalMetricValue {
  metricName: string;
  metricLabels: Record<string, string>;
  /** RFC 3339: when the value was measured. */
  timestamp: string;
  windowSeconds?: number;
  /** A Kubernetes quantity, e.g. "1200". */
  value: string;
}

/** Where values come from: the operator's lag monitor, or a test's direct Kafka reading. */
export type ExternalMetricSource = (
  namespace: string,
  metricName: string,
  selector: Requirement[],
) => ExternalMetricValue[] | Promise<ExternalMetricValue[]>;

export interface ExternalMetricsApi {
  /** The metric names served (discovery lists them; any other name is a 404). */
  metricNames: readonly string[];
  source: ExternalMetricSource;
}

export interface ApiAnswer {
  status: number;
  body: unknown;
}

type StatusReason = 'BadRequest' | 'NotFound' | 'MethodNotAllowed' | 'Unauthorized' | 'InternalError';

export function statusAnswer(code: number, reason: StatusReason, message: string): ApiAnswer {
  return {
    status: code,
    body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code },
  };
}

const groupVersion = { groupVersion: GROUP_VERSION, version: EXTERNAL_METRICS_VERSION };
const apiGroup = { name: EXTERNAL_METRICS_GROUP, versions: [groupVersion], preferredVersion: groupVersion };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Answers one request (`url` = path and query as received). */
export async function answerRequest(
  api: ExternalMetricsApi,
  method: string,
  url: string,
): Promise<ApiAnswer> {
  const { pathname, searchParams } = new URL(url, 'https://metrics.invalid');
  const path = pathname.replace(/\/+$/, '');
  if (method !== 'GET')
    return statusAnswer(
      405,
      'MethodNotAllowed',
      `${method} is not supported: the External Metrics API is read-only (GET)`,
    );
  // The aggregator merges every server's OpenAPI; an empty document spares it a retry loop of 404s.
  if (path === '/openapi/v2')
    return {
      status: 200,
      body: {
        swagger: '2.0',
        info: { title: 'engram external metrics', version: EXTERNAL_METRICS_VERSION },
        paths: {},
      },
    };
  if (path === '/openapi/v3') return { status: 200, body: { paths: {} } };
  if (path === '/apis')
    return { status: 200, body: { kind: 'APIGroupList', apiVersion: 'v1', groups: [apiGroup] } };
  if (path === `/apis/${EXTERNAL_METRICS_GROUP}`)
    return { status: 200, body: { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup } };
  if (path === `/apis/${GROUP_VERSION}`)
    return {
      status: 200,
      body: {
        kind: 'APIResourceList',
        apiVersion: 'v1',
        groupVersion: GROUP_VERSION,
        resources: api.metricNames.map((name) => ({
          name,
          singularName: '',
          namespaced: true,
          kind: 'ExternalMetricValueList',
          verbs: ['get'],
        })),
      },
    };
  const m = new RegExp(`^/apis/${GROUP_VERSION.replace(/\./g, '\\.')}/namespaces/([^/]+)/([^/]+)$`).exec(
    path,
  );
  if (!m) return statusAnswer(404, 'NotFound', `${pathname} is not a path of ${GROUP_VERSION}`);
  let namespace: string;
  let metric: string;
  try {
    namespace = decodeURIComponent(m[1]!);
    metric = decodeURIComponent(m[2]!);
  } catch {
    return statusAnswer(400, 'BadRequest', `${pathname}: malformed percent-encoding`);
  }
  if (!DNS_LABEL.test(namespace))
    return statusAnswer(400, 'BadRequest', `${JSON.stringify(namespace)} is not a namespace name`);
  if (!api.metricNames.includes(metric))
    return statusAnswer(
      404,
      'NotFound',
      `external metric ${JSON.stringify(metric)} is not served here; this server serves ${api.metricNames.join(', ')}`,
    );
  let selector: Requirement[];
  try {
    selector = parseLabelSelector(searchParams.get('labelSelector') ?? '');
  } catch (err) {
    return statusAnswer(400, 'BadRequest', (err as Error).message);
  }
  try {
    const items = await api.source(namespace, metric, selector);
    return {
      status: 200,
      body: { kind: 'ExternalMetricValueList', apiVersion: GROUP_VERSION, metadata: {}, items },
    };
  } catch (err) {
    if (err instanceof SelectorError) return statusAnswer(400, 'BadRequest', err.message);
    return statusAnswer(
      500,
      'InternalError',
      `cannot read ${metric} in ${namespace}: ${(err as Error).message}`,
    );
  }
}
