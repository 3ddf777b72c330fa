// etcd as its project ships it (go.etcd.io/etcd/server/v3/etcdmain), at the release
// k8s.io/kubernetes is built against.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
