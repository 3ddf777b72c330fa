// workloadapi-check decodes workload-API resources with Istio's own generated Go types
// (istio.io/istio/pkg/workloadapi and .../security) and reports what Istio sees in them, so the
// project can prove that istiod-lite's bytes are wire-compatible with Istio's definitions.
//
// Modes:
//
//	workloadapi-check decode            stdin: one JSON object per line, {"type_url", "value" (base64)}
//	                                    stdout: one JSON object per line, {"type_url", "json", "reencoded", "unknown"}
//	workloadapi-check delta <host:port> subscribes to Address and Authorization over Delta ADS
//	                                    (plaintext), and prints each resource received the same way
//	                                    (plus "name"), until both types have arrived; then exits 0.
//
// "json" is Istio's protojson with proto field names (what the project's codec prints),
// "reencoded" the bytes Istio's types marshal back to (deterministic), and "unknown" lists the
// paths of any field Istio's types do not know: a field number that does not match Istio's.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	"istio.io/istio/pkg/workloadapi"
	"istio.io/istio/pkg/workloadapi/security"
)

const (
	addressType       = "type.googleapis.com/istio.workload.Address"
	authorizationType = "type.googleapis.com/istio.security.Authorization"
)

type input struct {
	TypeURL string `json:"type_url"`
	Value   string `json:"value"`
}

type output struct {
	Name      string          `json:"name,omitempty"`
	TypeURL   string          `json:"type_url"`
	JSON      json.RawMessage `json:"json"`
	Reencoded string          `json:"reencoded"`
	Unknown   []string        `json:"unknown"`
	Error     string          `json:"error,omitempty"`
}

func newMessage(typeURL string) (proto.Message, error) {
	switch typeURL {
	case addressType:
		return &workloadapi.Address{}, nil
	case authorizationType:
		return &security.Authorization{}, nil
	}
	return nil, fmt.Errorf("not a workload API type: %s", typeURL)
}

// unknownFields walks a message and names every place that carries fields its type does not know.
func unknownFields(m protoreflect.Message, path string) []string {
	var out []string
	if len(m.GetUnknown()) > 0 {
		out = append(out, path)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		at := path + "." + string(fd.Name())
		switch {
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				out = append(out, unknownFields(mv.Message(), fmt.Sprintf("%s[%q]", at, k.String()))...)
				return true
			})
		case fd.IsList() && fd.Message() != nil:
			for i := 0; i < v.List().Len(); i++ {
				out = append(out, unknownFields(v.List().Get(i).Message(), fmt.Sprintf("%s[%d]", at, i))...)
			}
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			out = append(out, unknownFields(v.Message(), at)...)
		}
		return true
	})
	return out
}

func describe(name, typeURL string, value []byte) output {
	out := output{Name: name, TypeURL: typeURL, Unknown: []string{}}
	msg, err := newMessage(typeURL)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	if err := proto.Unmarshal(value, msg); err != nil {
		out.Error = "unmarshal: " + err.Error()
		return out
	}
	out.Unknown = append(out.Unknown, unknownFields(msg.ProtoReflect(), string(msg.ProtoReflect().Descriptor().Name()))...)
	text, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		out.Error = "protojson: " + err.Error()
		return out
	}
	out.JSON = text
	again, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		out.Error = "marshal: " + err.Error()
		return out
	}
	out.Reencoded = base64.StdEncoding.EncodeToString(again)
	return out
}

func emit(w *json.Encoder, o output) {
	if err := w.Encode(o); err != nil {
		fmt.Fprintln(os.Stderr, "workloadapi-check:", err)
		os.Exit(1)
	}
}

func decode() error {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	w := json.NewEncoder(os.Stdout)
	for scanner.Scan() {
		if len(scanner.Bytes()) == 0 {
			continue
		}
		var in input
		if err := json.Unmarshal(scanner.Bytes(), &in); err != nil {
			return fmt.Errorf("bad input line: %w", err)
		}
		value, err := base64.StdEncoding.DecodeString(in.Value)
		if err != nil {
			return fmt.Errorf("bad base64 for %s: %w", in.TypeURL, err)
		}
		emit(w, describe("", in.TypeURL, value))
	}
	return scanner.Err()
}

// delta subscribes like Istio's ztunnel does (Delta ADS, wildcard, node id ztunnel~…) and prints
// what arrives; it ACKs every response and stops once both types have been received.
func delta(target, nodeName string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		return err
	}
	meta, _ := structpb.NewStruct(map[string]any{"NODE_NAME": nodeName})
	node := &core.Node{Id: "ztunnel~~ztunnel-" + nodeName + "~istio-system.svc.cluster.local", Metadata: meta}
	for _, t := range []string{addressType, authorizationType} {
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{Node: node, TypeUrl: t, ResourceNamesSubscribe: []string{"*"}}); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	w := json.NewEncoder(os.Stdout)
	for len(seen) < 2 {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		for _, r := range resp.Resources {
			if r.Resource == nil {
				continue
			}
			emit(w, describe(r.Name, r.Resource.TypeUrl, r.Resource.Value))
		}
		seen[resp.TypeUrl] = true
		if err := stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce}); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "decode":
		err = decode()
	case len(os.Args) >= 3 && os.Args[1] == "delta":
		node := "node-a"
		if len(os.Args) >= 4 {
			node = os.Args[3]
		}
		err = delta(os.Args[2], node)
	default:
		err = fmt.Errorf("usage: workloadapi-check decode | delta <host:port> [node]")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "workloadapi-check:", err)
		os.Exit(1)
	}
}
