// aws-local-stepfunctions 3.x calls Promise.withResolvers, which Node 20 lacks.
import '../lib/local/polyfills.ts';
