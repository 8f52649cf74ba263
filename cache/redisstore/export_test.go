package redisstore

// DisjointPrefixes exports disjointPrefixes to the tests.
var DisjointPrefixes = disjointPrefixes
