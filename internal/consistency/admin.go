package consistency

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// adminTimeout bounds one administrative Redis command of a fault.
const adminTimeout = 5 * time.Second

// redisDo sends one command to the Redis server at addr on a client of its
// own, without retries, so that a fault's command is sent exactly once.
func redisDo(ctx context.Context, addr string, args ...string) error {
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:       []string{addr},
		ForceSingleClient: true,
		DisableCache:      true,
		DisableRetry:      true,
		ClientSetInfo:     rueidis.DisableClientSetInfo, // Redis 7.0 lacks CLIENT SETINFO
		Dialer:            net.Dialer{Timeout: adminTimeout},
		ConnWriteTimeout:  adminTimeout,
	})
	if client != nil {
		defer client.Close()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", addr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	if err := client.Do(ctx, client.B().Arbitrary(args...).Build()).Error(); err != nil {
		return fmt.Errorf("%s %s: %w", addr, strings.Join(args, " "), err)
	}
	return nil
}
