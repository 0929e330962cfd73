// aws-local-stepfunctions 3.x calls Promise.withResolvers, which Node 20 lacks.
import '../lib/local/polyfills.ts';

// Keep test output readable on Node 20 (see bin/guardian.js).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
