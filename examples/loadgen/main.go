// Command loadgen sends a bounded number of GET requests to a URL, a few at
// a time, and prints how they went. The demo uses it so it needs no curl.
//
//	loadgen -url http://127.0.0.1:8080/api/hash?n=2000 [-n 20] [-c 2] [-d 0]
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to GET (required)")
	n := flag.Int("n", 20, "number of requests (1..100000)")
	c := flag.Int("c", 2, "requests in flight at once (1..64)")
	d := flag.Duration("d", 0, "keep sending until this much time has passed (0: just -n requests; -n stays the bound)")
	quiet := flag.Bool("q", false, "print nothing unless a request fails")
	show := flag.Bool("print", false, "print the first response's body")
	flag.Parse()
	if u, err := url.Parse(*target); err != nil || u.Host == "" {
		fail(fmt.Errorf("-url %q is not a URL", *target))
	}
	if *n < 1 || *n > 100000 || *c < 1 || *c > 64 || *d < 0 {
		fail(fmt.Errorf("want -n 1..100000, -c 1..64 and -d >= 0"))
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var (
		mu    sync.Mutex
		lat   []time.Duration
		errs  int
		first error
	)
	start := time.Now()
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < *c; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				t0 := time.Now()
				body, err := get(client, *target)
				mu.Lock()
				lat = append(lat, time.Since(t0))
				if *show && len(lat) == 1 {
					os.Stdout.Write(body)
				}
				if err != nil {
					errs++
					if first == nil {
						first = err
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *n; i++ {
		if *d > 0 && i > 0 && time.Since(start) >= *d {
			break
		}
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	if !*quiet || errs > 0 {
		fmt.Printf("%d requests in %s, %d failed; latency p50 %s p99 %s max %s\n", len(lat),
			time.Since(start).Round(time.Millisecond), errs, q(0.5).Round(time.Microsecond),
			q(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	}
	if errs > 0 {
		fail(fmt.Errorf("first failure: %v", first))
	}
}

func get(c *http.Client, u string) ([]byte, error) {
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", u, resp.Status)
	}
	return body, err
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
	os.Exit(1)
}
