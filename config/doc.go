// Package config turns the environment and the command line into one typed,
// validated [Config] for the filecache service.
//
// Every setting has an environment variable (LISTEN_ADDR, REDIS_URL,
// CACHE_TTL_FILE, ...) and a flag of the same name in kebab case
// (--listen-addr, --redis-url, --cache-ttl-file, ...). A value is taken from
// the flag when the flag was given, else from the environment, else the
// default; an empty value means "use the default". The package never reads
// the process environment itself: callers pass a lookup function such as
// [os.LookupEnv].
//
// The Config holds the libraries' own option types where they exist
// (redisstore.Options, catalog.TTLs) and leaves their fields zero unless
// set, so that each default is declared once, by the library that applies
// it; --help reads the same constants. Where a setting can be turned off,
// the environment's 0 is stored as -1, the libraries' "off". [Default]
// fills in only the service's own defaults (listen address, database,
// rate limit, near cache, fail-safe, fallback budget).
//
// Settings come in groups ([GroupServer], [GroupCache], [GroupDatabase],
// [GroupRedis]); each command binds the groups it uses, and every command
// goes through [FromFlags]:
//
//	cmd := &cobra.Command{Use: "backup", RunE: func(cmd *cobra.Command, _ []string) error {
//		cfg, err := config.FromFlags(cmd.Flags(), os.LookupEnv)
//		if err != nil {
//			return err // names every bad variable, never a secret
//		}
//		logger.Info("starting", "config", cfg) // Config is a slog.LogValuer
//		...
//	}}
//	config.Bind(cmd.Flags(), config.GroupRedis)
//
// [Load] does the same for every group, parsing the arguments itself.
//
// Validation collects every problem (joined with [errors.Join]) so that an
// operator sees them all at once; each is a [*VarError] naming the variable.
// Secrets (ADMIN_TOKEN, passwords inside DATABASE_URL) are held as [Secret]
// values, which print as "[redacted]" through fmt, encoding/json and
// log/slog; redisstore.Options redacts its password the same way; no
// secret appears in an error. TLS files (REDIS_TLS_*) are read when the
// configuration is built, so a missing or bad file stops start-up naming
// its variable.
//
// A [Config] is a plain value: copy it freely (the TLS configuration it may
// hold is shared). All functions of this package are safe for concurrent
// use.
package config
