package redisstore

import (
	"context"
	"strconv"

	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the Redis command spans.
const TracerName = "github.com/filecache/filecache/cache/redisstore"

// newClient connects with co; with a TracerProvider, the client's commands
// are spans (see tracedClient). rueidis' own OpenTelemetry wrapper
// (rueidisotel) is not published for this rueidis version, so the few
// calls the Store makes are wrapped here.
func newClient(co rueidis.ClientOption, opts Options) (rueidis.Client, error) {
	client, err := rueidis.NewClient(co)
	if err != nil || opts.TracerProvider == nil {
		return client, err
	}
	return tracedClient{
		Client: client,
		tracer: opts.TracerProvider.Tracer(TracerName),
		attrs: []attribute.KeyValue{
			attribute.String("db.system.name", "redis"),
			attribute.String("db.namespace", strconv.Itoa(opts.DB)),
		},
	}, nil
}

// tracedClient makes every command sent with Do or DoMulti (Lua scripts
// included) a client span named after the command (GET, SET, EVALSHA...),
// inside the caller's span when it records; outside a recording span it
// adds nothing but a context lookup. Keys and arguments are not recorded:
// they may hold client addresses (sessions, rate limits). Subscriptions and
// the per-node clients of Nodes (SCAN, INFO) are not traced.
type tracedClient struct {
	rueidis.Client
	tracer trace.Tracer
	attrs  []attribute.KeyValue
}

// Do implements rueidis.Client.
func (c tracedClient) Do(ctx context.Context, cmd rueidis.Completed) rueidis.RedisResult {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return c.Client.Do(ctx, cmd)
	}
	// The command is recycled by Do: read its name first.
	name := commandName(cmd.Commands())
	ctx, sp := c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(c.attrs...), trace.WithAttributes(attribute.String("db.operation.name", name)))
	r := c.Client.Do(ctx, cmd)
	endCommand(sp, r.Error())
	return r
}

// DoMulti implements rueidis.Client: one span for the pipeline, named
// after its command when they are all the same, else "PIPELINE".
func (c tracedClient) DoMulti(ctx context.Context, multi ...rueidis.Completed) []rueidis.RedisResult {
	if len(multi) == 0 || !trace.SpanFromContext(ctx).IsRecording() {
		return c.Client.DoMulti(ctx, multi...)
	}
	name := commandName(multi[0].Commands())
	for _, cmd := range multi[1:] {
		if commandName(cmd.Commands()) != name {
			name = "PIPELINE"
			break
		}
	}
	ctx, sp := c.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(c.attrs...), trace.WithAttributes(
			attribute.String("db.operation.name", name), attribute.Int("db.operation.batch.size", len(multi))))
	rs := c.Client.DoMulti(ctx, multi...)
	var err error
	for _, r := range rs {
		if err = r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			break
		}
	}
	endCommand(sp, err)
	return rs
}

// endCommand ends the span of a command that returned err; a nil reply is
// an answer, not an error.
func endCommand(sp trace.Span, err error) {
	if err != nil && !rueidis.IsRedisNil(err) {
		sp.RecordError(err)
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
}

// commandName returns the name of a command from its tokens.
func commandName(tokens []string) string {
	if len(tokens) == 0 {
		return "UNKNOWN"
	}
	return tokens[0]
}
