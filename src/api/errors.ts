// Every error leaves the API as {"error": CODE, "message": ..., "field"?: ...} with its status.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errors, isSwitchboardError, type ErrorBody } from '../errors.js';
import { quoteName } from '../nodes/service.js';

export interface ErrorAnswer {
  status: number;
  body: ErrorBody;
}

/** The status and body an error leaves as; compatibility routes re-wrap the body in their client's format. */
export function toBody(err: FastifyError, req: FastifyRequest, bodyLimit: number): ErrorAnswer {
  if (err.validation) {
    const first = err.validation[0];
    const path = (first?.instancePath ?? '').slice(1).replaceAll('/', '.');
    const missing = (first?.params as { missingProperty?: string; additionalProperty?: string } | undefined);
    const field = [err.validationContext, path, missing?.missingProperty ?? missing?.additionalProperty].filter(Boolean).join('.');
    // A bad node name gets the same answer whether it came in the path or the body.
    if ((field === 'body.name' || field === 'params.name') && first?.keyword !== 'required') {
      const source = (field === 'body.name' ? req.body : req.params) as { name?: unknown } | undefined;
      return { status: 400, body: { error: 'BAD_NODE_NAME', message: new errors.BAD_NODE_NAME(quoteName(source?.name)).message, field } };
    }
    const allowed = (first?.params as { allowedValues?: unknown[] } | undefined)?.allowedValues;
    const what = missing?.additionalProperty ? `unknown field '${missing.additionalProperty}'`
      : allowed ? `must be one of ${allowed.join(', ')}` : (first?.message ?? 'invalid');
    return { status: 400, body: { error: 'VALIDATION', message: `${field}: ${what}`, field } };
  }
  if (isSwitchboardError(err)) return { status: err.statusCode, body: { error: err.code, message: err.message } };
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: { error: 'BODY_TOO_LARGE', message: new errors.BODY_TOO_LARGE(req.routeOptions.bodyLimit ?? bodyLimit).message } };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: { error: 'BAD_JSON', message: new errors.BAD_JSON(err.message).message } };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: { error: 'UNSUPPORTED_MEDIA_TYPE', message: err.message } };
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    return { status: err.statusCode, body: { error: err.code ?? 'BAD_REQUEST', message: err.message } };
  }
  if (err instanceof SyntaxError) return { status: 400, body: { error: 'BAD_JSON', message: new errors.BAD_JSON(err.message).message } };
  return { status: 500, body: { error: 'INTERNAL', message: 'internal error; see the daemon log' } };
}

/** An error handler; `adapt` lets a plugin answer in another API's terms (OBMd's 401 for 403). */
export function errorHandler(bodyLimit: number, adapt: (answer: ErrorAnswer) => ErrorAnswer = (a) => a) {
  return (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = adapt(toBody(err, req, bodyLimit));
    if (status >= 500) req.log.error({ err }, 'request failed');
    return reply.status(status).send(body);
  };
}

export function registerErrorHandling(app: FastifyInstance, bodyLimit: number): void {
  app.setErrorHandler(errorHandler(bodyLimit));
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0].slice(0, 200)}` }),
  );
}
