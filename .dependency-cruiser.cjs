/** Dependency direction (see STYLE.md): pure cores import only util; adapters never import each other. */
const pure = '^src/(raft|tree)/';
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'util-imports-nothing',
      severity: 'error',
      from: { path: '^src/util/' },
      to: { pathNot: '^src/util/' },
    },
    {
      name: 'pure-core-imports-only-util',
      comment: 'raft and tree are deterministic: no node builtins, no npm packages, no adapters',
      severity: 'error',
      from: { path: pure },
      to: { pathNot: ['^src/util/', '^src/raft/', '^src/tree/'] },
    },
    {
      name: 'raft-and-tree-are-independent',
      severity: 'error',
      from: { path: '^src/raft/' },
      to: { path: '^src/tree/' },
    },
    {
      name: 'tree-does-not-know-raft',
      severity: 'error',
      from: { path: '^src/tree/' },
      to: { path: '^src/raft/' },
    },
    {
      name: 'storage-and-transport-are-separate',
      severity: 'error',
      from: { path: '^src/(storage|transport)/' },
      to: { path: '^src/(storage|transport|server|api|client|cli)/', pathNot: '^src/$1/' },
    },
    {
      name: 'server-does-not-know-api-or-client',
      severity: 'error',
      from: { path: '^src/server/' },
      to: { path: '^src/(api|client|cli)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
    exclude: { path: '^(dist|test)/' },
  },
};
