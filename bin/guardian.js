#!/usr/bin/env node
// The package bin: loads the TypeScript CLI through tsx so `npx guardian` needs no build step.
import { register } from 'tsx/esm/api';

// The SDK's notice that releases after January 2027 need Node 22 would print on every command;
// the README says so once (the Lambda runtime is already Node 22).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
register();
await import('./guardian.ts');
