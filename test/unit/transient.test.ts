import {
  ConditionalCheckFailedException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ThrottlingException,
  TransactionConflictException,
} from '@aws-sdk/client-dynamodb';
import { InvalidParameterException, ResourceNotFoundException } from '@aws-sdk/client-eks';
import { describe, expect, it } from 'vitest';
import {
  isTimeoutError,
  isTransientAwsError,
  isTransientHttpStatus,
  TRANSIENT_NETWORK_CODES,
  transientNetworkCode,
} from '../../lambdas/adapters/transient.ts';

/** What a deserialized AWS error answer carries: the status on `$metadata`, the code as `name`. */
function awsError(name: string, httpStatusCode: number, extra: object = {}): Error {
  return Object.assign(new Error(`${name} from the service`), {
    name,
    $fault: httpStatusCode >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode, requestId: 'req-1', attempts: 3 },
    ...extra,
  });
}

const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode }, message: 'from the service' });

describe('isTransientAwsError', () => {
  it.each([
    ['ProvisionedThroughputExceededException', new ProvisionedThroughputExceededException(meta(400))],
    ['ThrottlingException', new ThrottlingException(meta(400))],
    ['RequestLimitExceeded', new RequestLimitExceeded(meta(400))],
    ['a bare 429', awsError('SomethingNew', 429)],
    ['a throttling retryable trait', awsError('SlowDownPlease', 400, { $retryable: { throttling: true } })],
  ])('treats throttling (%s) as transient', (_what, err) => {
    expect(isTransientAwsError(err)).toBe(true);
  });

  it.each([
    ['InternalServerError 500', new InternalServerError(meta(500))],
    ['ServiceUnavailable 503', awsError('ServiceUnavailable', 503)],
    ['502', awsError('BadGateway', 502)],
    ['504', awsError('GatewayTimeout', 504)],
    ['501, which the SDK calls a server error but not transient', awsError('NotImplemented', 501)],
  ])('treats a 5xx (%s) as transient', (_what, err) => {
    expect(isTransientAwsError(err)).toBe(true);
  });

  it('treats the SDK request timeout (EKS_CLIENT_TIMEOUTS) as transient', () => {
    const err = Object.assign(new Error('Connection timed out after 3000 ms'), { name: 'TimeoutError' });
    expect(isTransientAwsError(err)).toBe(true);
  });

  it.each([...TRANSIENT_NETWORK_CODES])('treats network failure %s as transient', (code) => {
    expect(isTransientAwsError(Object.assign(new Error(`connect ${code} 127.0.0.1:443`), { code }))).toBe(
      true,
    );
  });

  it('finds a network failure on the cause the SDK wrapped', () => {
    const socket = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    expect(isTransientAwsError(new Error('socket hang up', { cause: socket }))).toBe(true);
  });

  it('treats a DynamoDB TransactionConflictException (400) as transient', () => {
    expect(isTransientAwsError(new TransactionConflictException(meta(400)))).toBe(true);
  });

  it('treats an error the SDK corrected the clock skew for as transient', () => {
    const err = awsError('SignatureDoesNotMatch', 403);
    (err as unknown as { $metadata: { clockSkewCorrected: boolean } }).$metadata.clockSkewCorrected = true;
    expect(isTransientAwsError(err)).toBe(true);
  });

  it.each([
    ['ConditionalCheckFailedException 400', new ConditionalCheckFailedException(meta(400))],
    ['ValidationException 400', awsError('ValidationException', 400)],
    ['InvalidParameterException 400', new InvalidParameterException(meta(400))],
    ['ResourceNotFoundException 404', new ResourceNotFoundException(meta(404))],
    [
      'AccessDeniedException 403 (on the clock-skew list, yet an operator must fix it)',
      awsError('AccessDeniedException', 403),
    ],
    ['an expired token 400', awsError('ExpiredTokenException', 400)],
  ])('does not retry a 4xx that a retry cannot fix (%s)', (_what, err) => {
    expect(isTransientAwsError(err)).toBe(false);
  });

  it('does not retry an AWS call the caller aborted', () => {
    const err = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    expect(isTransientAwsError(err)).toBe(false);
  });

  it('does not retry a plain programming error', () => {
    expect(isTransientAwsError(new TypeError("Cannot read properties of undefined (reading 'S')"))).toBe(
      false,
    );
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a string naming a network code', 'ECONNRESET'],
    ['a number', 503],
    ['an object with a null cause', { name: 'Error', cause: null }],
    ['an HTTP/2 stream error without a message', { code: 'ERR_HTTP2_STREAM_ERROR' }],
  ])('answers false, without throwing, for %s', (_what, value) => {
    expect(isTransientAwsError(value)).toBe(false);
  });
});

describe('isTransientHttpStatus', () => {
  it.each([429, 500, 502, 503, 504, 599])('retries %i', (status) => {
    expect(isTransientHttpStatus(status)).toBe(true);
  });

  it.each([0, 200, 301, 400, 401, 403, 404, 409, 422, 499, 600])('does not retry %i', (status) => {
    expect(isTransientHttpStatus(status)).toBe(false);
  });
});

describe('isTimeoutError', () => {
  it('recognises AbortSignal.timeout, an abort and node-fetch’s timeout', () => {
    expect(isTimeoutError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'))).toBe(
      true,
    );
    expect(isTimeoutError(new DOMException('This operation was aborted', 'AbortError'))).toBe(true);
    expect(
      isTimeoutError(
        Object.assign(new Error('network timeout at: https://k8s'), { type: 'request-timeout' }),
      ),
    ).toBe(true);
  });

  it.each([
    ['an ordinary error', new Error('boom')],
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })],
    ['null', null],
    ['undefined', undefined],
    ['a string', 'TimeoutError'],
  ])('is false for %s', (_what, value) => {
    expect(isTimeoutError(value)).toBe(false);
  });
});

describe('transientNetworkCode', () => {
  it('reads the code of a Node.js system error', () => {
    expect(
      transientNetworkCode(Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' })),
    ).toBe('EAI_AGAIN');
  });

  it('reads the socket error fetch puts on `cause`, past a non-network code', () => {
    const socket = Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' });
    const wrapper = Object.assign(new Error('request failed'), { code: 'ERR_WRAPPED', cause: socket });
    expect(transientNetworkCode(new TypeError('fetch failed', { cause: wrapper }))).toBe(
      'UND_ERR_CONNECT_TIMEOUT',
    );
  });

  it('ignores codes that are not network failures and numeric (HTTP) codes', () => {
    expect(
      transientNetworkCode(Object.assign(new Error('bad url'), { code: 'ERR_INVALID_URL' })),
    ).toBeUndefined();
    expect(transientNetworkCode({ code: 503 })).toBeUndefined();
  });

  it('stops following causes after a few levels, even when they loop', () => {
    let deep: unknown = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    for (let i = 0; i < 4; i++) deep = new Error(`wrapper ${i}`, { cause: deep });
    expect(transientNetworkCode(deep)).toBeUndefined();
    const loop: { cause?: unknown } = {};
    loop.cause = loop;
    expect(transientNetworkCode(loop)).toBeUndefined();
  });

  it.each([null, undefined, 'ECONNRESET', 42])('is undefined for %j', (value) => {
    expect(transientNetworkCode(value)).toBeUndefined();
  });
});
