#!/usr/bin/env node
// The package bin: loads the TypeScript CLI through tsx so `npx guardian` needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('./guardian.ts');
