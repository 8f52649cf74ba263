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
// With a cobra command:
//
//	cmd := &cobra.Command{Use: "serve", RunE: func(cmd *cobra.Command, _ []string) error {
//		cfg, err := config.FromFlags(cmd.Flags(), os.LookupEnv)
//		if err != nil {
//			return err // names every bad variable, never a secret
//		}
//		logger.Info("starting", "config", cfg) // Config is a slog.LogValuer
//		...
//	}}
//	config.Bind(cmd.Flags())
//
// Without cobra, [Load] parses the arguments itself.
//
// Validation collects every problem (joined with [errors.Join]) so that an
// operator sees them all at once; each is a [*VarError] naming the variable.
// Secrets (ADMIN_TOKEN, REDIS_PASSWORD, passwords inside DATABASE_URL and
// REDIS_URL) are held as [Secret] values, which print as "[redacted]" through
// fmt, encoding/json and log/slog, and never appear in an error.
//
// A [Config] is a plain value: copy it freely. All functions of this package
// are safe for concurrent use.
package config
