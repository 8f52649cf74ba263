package cache

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestNearReservation(t *testing.T) {
	var tokens atomic.Uint64
	n, err := newNear[string]("file:", nil, 100, 2*time.Second, &tokens)
	if err != nil {
		t.Fatal(err)
	}
	// A read that completes undisturbed fills its entry.
	tok := n.reserve("file:1")
	if tok == 0 {
		t.Fatal("reserve of an absent key returned 0")
	}
	if _, ok := n.get("file:1"); ok {
		t.Fatal("a reservation is served as a value")
	}
	if second := n.reserve("file:1"); second != 0 {
		t.Fatal("a second reader got a reservation while one is in flight")
	}
	n.fill("file:1", tok, "v1", time.Minute)
	if v, ok := n.get("file:1"); !ok || v != "v1" {
		t.Fatalf("get after fill = %q, %v", v, ok)
	}
	// A notification that arrives while a read is in flight voids it: the
	// value read may predate the change.
	tok = n.reserve("file:2")
	n.dropKey("file:file:2") // a notification names the full key
	n.fill("file:2", tok, "stale", time.Minute)
	if v, ok := n.get("file:2"); ok {
		t.Fatalf("a voided read was stored: %q", v)
	}
	// So does a flush, even if a new read reserved the key since.
	old := n.reserve("file:3")
	n.flush()
	fresh := n.reserve("file:3")
	n.fill("file:3", old, "stale", time.Minute)
	if _, ok := n.get("file:3"); ok {
		t.Fatal("a read from before the flush was stored")
	}
	n.fill("file:3", fresh, "fresh", time.Minute)
	if v, _ := n.get("file:3"); v != "fresh" {
		t.Fatalf("get = %q, want fresh", v)
	}
	// An entry never outlives the TTL it was filled with.
	tok = n.reserve("file:4")
	n.fill("file:4", tok, "short", 30*time.Millisecond)
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, ok := n.get("file:4"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a near entry outlived its TTL")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// release drops only its own reservation.
	tok = n.reserve("file:5")
	n.release("file:5", tok+1000)
	if n.reserve("file:5") != 0 {
		t.Fatal("release with a foreign token dropped the reservation")
	}
	n.release("file:5", tok)
	if n.reserve("file:5") == 0 {
		t.Fatal("release did not drop the reservation")
	}
	// A read that goes to the store takes the place of the value the key
	// held: that value is gone even if the read fills nothing.
	tok = n.reserve("file:6")
	n.fill("file:6", tok, "old", time.Minute)
	tok = n.reserve("file:6")
	if tok == 0 {
		t.Fatal("a read was refused a reservation over a value")
	}
	if v, ok := n.get("file:6"); ok {
		t.Fatalf("the value %q outlived a read of the store", v)
	}
	n.release("file:6", tok)
	if v, ok := n.get("file:6"); ok {
		t.Fatalf("the value %q came back after the read released", v)
	}
}
