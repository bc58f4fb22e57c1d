/**
 * Architectural boundaries (see docs/architecture.md). Run by `npm run lint` and CI.
 * @type {import('dependency-cruiser').IConfiguration}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cross-context-imports',
      comment: 'A bounded context never imports another context: the gateway composes them through service interfaces.',
      severity: 'error',
      from: { path: '^workers/(?!gateway/)([^/]+)/' },
      to: { path: '^workers/', pathNot: ['^workers/$1/'] },
    },
    {
      name: 'gateway-uses-context-public-surface',
      comment: 'The composition root reaches a context only through its index.ts.',
      severity: 'error',
      from: { path: '^workers/gateway/', pathNot: '\\.test\\.ts$' },
      to: { path: '^workers/(?!gateway/)[^/]+/(?!index\\.ts$)' },
    },
    {
      name: 'shared-kernel-is-context-free',
      comment: 'shared/ holds no business rule of any one context and never imports one.',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^(workers|durable-objects)/' },
    },
    {
      name: 'sdks-only-in-adapters',
      comment: 'Only adapters import provider SDKs (Stripe, Upstash, Razorpay, messaging clients).',
      severity: 'error',
      from: { pathNot: '(^|/)adapters/' },
      to: { dependencyTypes: ['npm', 'npm-dev'], path: 'node_modules/(stripe|@upstash|razorpay|twilio|@aws-sdk|firebase-admin)/' },
    },
    {
      name: 'worker-code-not-on-dev-tooling',
      comment: 'Worker code must not import local dev/test tooling or Node-only packages used by it.',
      severity: 'error',
      from: { path: '^(workers|durable-objects|shared)/', pathNot: '\\.test\\.ts$' },
      to: { path: ['^(tools|scripts|bench)/', 'node_modules/(pg|ioredis|@electric-sql|ws)/'] },
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
