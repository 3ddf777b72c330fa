// go-xds-client: an independent ADS client built on Envoy's own Go protos
// (github.com/envoyproxy/go-control-plane/envoy), used by istiod-lite's tests to check our wire
// against another implementation: both ADS methods, ACK/NACK with nonces, wildcard subscriptions,
// initial_resource_versions on delta, and every resource unmarshalled into its Envoy type and
// checked with the proto's own validation rules (protoc-gen-validate's ValidateAll, the
// constraints Envoy enforces). Built by the set-up (`npm run setup`, scripts/setup/steps.mjs)
// into the shared tools directory and linked at .state/tools/go-xds-client; never committed as a
// binary.
//
// It subscribes to each type, ACKs every valid response (NACKs one that fails, naming the
// resource), and once every type has answered and `-settle` passes without a response, prints
// what it saw as JSON on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	// Typed configs our resources carry in Any fields: registering them lets ValidateAll descend.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/http_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/matching/common_inputs/network/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/internal_upstream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
)

var typeByShortName = map[string]string{
	"cds": "type.googleapis.com/envoy.config.cluster.v3.Cluster",
	"eds": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
	"lds": "type.googleapis.com/envoy.config.listener.v3.Listener",
	"rds": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
}

type resourceOut struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Bytes   int    `json:"bytes"`
}

type responseOut struct {
	TypeURL   string        `json:"typeUrl"`
	Nonce     string        `json:"nonce"`
	Version   string        `json:"version"`
	Resources []resourceOut `json:"resources"`
	Removed   []string      `json:"removed,omitempty"`
	Nack      string        `json:"nack,omitempty"`
}

type report struct {
	Protocol  string                       `json:"protocol"`
	Responses []responseOut                `json:"responses"`
	Types     map[string]map[string]string `json:"types"`
	Errors    []string                     `json:"errors,omitempty"`
}

type validator interface{ ValidateAll() error }

// statusOf is a NACK's error_detail: INVALID_ARGUMENT with the reason.
func statusOf(message string) *rpcstatus.Status {
	return &rpcstatus.Status{Code: 3, Message: message}
}

// check unmarshals a resource into its Envoy type and runs the proto's validation rules.
func check(typeURL string, any *anypb.Any) (string, error) {
	if any == nil {
		return "", fmt.Errorf("no resource")
	}
	if any.GetTypeUrl() != typeURL {
		return "", fmt.Errorf("type %s in a %s response", any.GetTypeUrl(), typeURL)
	}
	var message proto.Message
	switch typeURL {
	case typeByShortName["cds"]:
		message = &cluster.Cluster{}
	case typeByShortName["eds"]:
		message = &endpoint.ClusterLoadAssignment{}
	case typeByShortName["lds"]:
		message = &listener.Listener{}
	case typeByShortName["rds"]:
		message = &route.RouteConfiguration{}
	default:
		return "", fmt.Errorf("unexpected type %s", typeURL)
	}
	if err := any.UnmarshalTo(message); err != nil {
		return "", err
	}
	if err := message.(validator).ValidateAll(); err != nil {
		return "", err
	}
	switch m := message.(type) {
	case *endpoint.ClusterLoadAssignment:
		return m.GetClusterName(), nil
	case interface{ GetName() string }:
		return m.GetName(), nil
	}
	return "", nil
}

func main() {
	target := flag.String("target", "127.0.0.1:15010", "ADS server host:port (plaintext)")
	protocol := flag.String("protocol", "delta", "delta or sotw")
	nodeID := flag.String("node-id", "", "xDS node id")
	nodeName := flag.String("node-name", "", "NODE_NAME metadata")
	types := flag.String("types", "cds,eds,lds", "comma-separated: cds, eds, lds, rds")
	initial := flag.String("initial-versions", "", "delta: JSON {typeUrl: {name: version}} sent as initial_resource_versions")
	settle := flag.Duration("settle", 700*time.Millisecond, "quiet time after every type answered")
	timeout := flag.Duration("timeout", 20*time.Second, "give up after")
	flag.Parse()

	var typeURLs []string
	for _, short := range strings.Split(*types, ",") {
		url, ok := typeByShortName[short]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown type %q\n", short)
			os.Exit(2)
		}
		typeURLs = append(typeURLs, url)
	}
	initialVersions := map[string]map[string]string{}
	if *initial != "" {
		if err := json.Unmarshal([]byte(*initial), &initialVersions); err != nil {
			fmt.Fprintf(os.Stderr, "bad -initial-versions: %v\n", err)
			os.Exit(2)
		}
	}
	metadata, _ := structpb.NewStruct(map[string]any{"NODE_NAME": *nodeName})
	node := &core.Node{Id: *nodeID, Metadata: metadata, UserAgentName: "go-xds-client"}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer conn.Close()
	client := discovery.NewAggregatedDiscoveryServiceClient(conn)

	out := report{Protocol: *protocol, Types: map[string]map[string]string{}}
	var mu sync.Mutex
	answered := map[string]bool{}
	activity := make(chan struct{}, 1024)

	// replace: state of the world (the response is the whole set, and a NACK applies none of it);
	// otherwise delta (what passed applies, as Istio's ztunnel does, even when others were rejected).
	record := func(r responseOut, names map[string]string, replace bool) {
		mu.Lock()
		defer mu.Unlock()
		out.Responses = append(out.Responses, r)
		answered[r.TypeURL] = true
		if r.Nack != "" && replace {
			return
		}
		known := out.Types[r.TypeURL]
		if known == nil || replace {
			known = map[string]string{}
			out.Types[r.TypeURL] = known
		}
		for _, name := range r.Removed {
			delete(known, name)
		}
		for name, version := range names {
			known[name] = version
		}
	}

	switch *protocol {
	case "delta":
		stream, err := client.DeltaAggregatedResources(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, url := range typeURLs {
			if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: url, InitialResourceVersions: initialVersions[url]}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		go func() {
			for {
				response, err := stream.Recv()
				if err != nil {
					return
				}
				r := responseOut{TypeURL: response.GetTypeUrl(), Nonce: response.GetNonce(), Version: response.GetSystemVersionInfo(), Removed: response.GetRemovedResources(), Resources: []resourceOut{}}
				names := map[string]string{}
				var rejects []string
				for _, resource := range response.GetResources() {
					name, err := check(response.GetTypeUrl(), resource.GetResource())
					if err == nil && name != resource.GetName() {
						err = fmt.Errorf("the resource names itself %q", name)
					}
					if err != nil {
						rejects = append(rejects, fmt.Sprintf("%s: %v", resource.GetName(), err))
						continue
					}
					names[resource.GetName()] = resource.GetVersion()
					r.Resources = append(r.Resources, resourceOut{Name: resource.GetName(), Version: resource.GetVersion(), Bytes: len(resource.GetResource().GetValue())})
				}
				ack := &discovery.DeltaDiscoveryRequest{TypeUrl: response.GetTypeUrl(), ResponseNonce: response.GetNonce()}
				if len(rejects) > 0 {
					r.Nack = strings.Join(rejects, "; ")
					ack.ErrorDetail = statusOf(r.Nack)
				}
				record(r, names, false)
				_ = stream.Send(ack)
				activity <- struct{}{}
			}
		}()
	case "sotw":
		stream, err := client.StreamAggregatedResources(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, url := range typeURLs {
			if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: url}); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		go func() {
			acked := map[string]string{}
			for {
				response, err := stream.Recv()
				if err != nil {
					return
				}
				r := responseOut{TypeURL: response.GetTypeUrl(), Nonce: response.GetNonce(), Version: response.GetVersionInfo(), Resources: []resourceOut{}}
				names := map[string]string{}
				var rejects []string
				for i, resource := range response.GetResources() {
					name, err := check(response.GetTypeUrl(), resource)
					if err != nil {
						rejects = append(rejects, fmt.Sprintf("resource %d: %v", i, err))
						continue
					}
					names[name] = response.GetVersionInfo()
					r.Resources = append(r.Resources, resourceOut{Name: name, Bytes: len(resource.GetValue())})
				}
				ack := &discovery.DiscoveryRequest{TypeUrl: response.GetTypeUrl(), ResponseNonce: response.GetNonce(), VersionInfo: response.GetVersionInfo()}
				if len(rejects) > 0 {
					r.Nack = strings.Join(rejects, "; ")
					ack.VersionInfo = acked[response.GetTypeUrl()]
					ack.ErrorDetail = statusOf(r.Nack)
				} else {
					acked[response.GetTypeUrl()] = response.GetVersionInfo()
				}
				record(r, names, true)
				_ = stream.Send(ack)
				activity <- struct{}{}
			}
		}()
	default:
		fmt.Fprintf(os.Stderr, "unknown protocol %q\n", *protocol)
		os.Exit(2)
	}

	allAnswered := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, url := range typeURLs {
			if !answered[url] {
				return false
			}
		}
		return true
	}
	for {
		select {
		case <-activity:
			continue
		case <-time.After(*settle):
			if allAnswered() {
				mu.Lock()
				_ = json.NewEncoder(os.Stdout).Encode(out)
				mu.Unlock()
				return
			}
		case <-ctx.Done():
			mu.Lock()
			out.Errors = append(out.Errors, "timed out before every type answered")
			_ = json.NewEncoder(os.Stdout).Encode(out)
			mu.Unlock()
			os.Exit(1)
		}
	}
}
