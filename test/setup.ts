// aws-local-stepfunctions 3.x calls Promise.withResolvers, which Node 20 lacks.
import '../lib/local/polyfills.ts';

// Keep test output readable on Node 20 (see bin/guardian.js).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// The Lambda entry points log through Powertools and emit EMF lines on stdout; tests assert on
// results, the store and the cluster, not on those lines.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
