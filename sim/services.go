package sim

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"lvs/internal/netlab"
)

// startServices starts every service of every real and shared node and
// waits until each listens.
func (s *Site) startServices(ctx context.Context) error {
	if err := s.startDecaps(ctx); err != nil {
		return fmt.Errorf("ipip decapsulators: %w", err)
	}
	for _, n := range s.Topo.Nodes {
		for _, svc := range n.Services {
			if err := s.startService(ctx, n, svc); err != nil {
				return fmt.Errorf("%s on %s: %w", svc.Kind, n.Name, err)
			}
		}
	}
	return nil
}

func (s *Site) startService(ctx context.Context, n *Node, svc *Service) error {
	var argv []string
	port := svc.Port
	switch svc.Kind {
	case ServiceResponder:
		if s.Bins == nil || s.Bins.LVSSim == "" {
			return fmt.Errorf("no lvssim binary to run the responder")
		}
		argv = responderArgv(s.Bins.LVSSim, n.Name, svc)
		port = svc.HTTP
		if port == 0 {
			port = svc.TCP
		}
	case ServiceNginx:
		if _, err := exec.LookPath("nginx"); err != nil {
			return fmt.Errorf("nginx is not installed (apt-get install nginx-light)")
		}
		conf, err := s.nginxConf(n.Name, svc.Port)
		if err != nil {
			return err
		}
		argv = []string{"nginx", "-c", conf, "-e", filepath.Join(s.Dir, "logs", n.Name+"-nginx-error.log")}
	case ServiceVsftpd:
		if _, err := exec.LookPath("vsftpd"); err != nil {
			return fmt.Errorf("vsftpd is not installed (apt-get install vsftpd)")
		}
		conf, err := s.vsftpdConf(n.Name, svc, n.hasIPv6())
		if err != nil {
			return err
		}
		argv = []string{"vsftpd", conf}
	case ServiceBIRD: // the upstream router of an ECMP site (bird.go)
		var err error
		if argv, err = s.birdArgv(n); err != nil {
			return err
		}
	}
	p, err := s.startProc(ctx, n.Name, string(svc.Kind), argv...)
	if err != nil {
		return err
	}
	if port == 0 {
		return nil
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
	return netlab.WaitFor(ctx, 10*time.Second, p.Proc, func() error { return s.probeTCP(n.Name, addr) })
}

func responderArgv(bin, name string, svc *Service) []string {
	argv := []string{bin, "responder", "--name", name}
	add := func(flag string, v int) {
		if v != 0 {
			argv = append(argv, flag, strconv.Itoa(v))
		}
	}
	add("--http", svc.HTTP)
	add("--https", svc.HTTPS)
	add("--tcp", svc.TCP)
	add("--udp", svc.UDP)
	if svc.Delay > 0 {
		argv = append(argv, "--delay", svc.Delay.String())
	}
	if svc.Backend != "" {
		argv = append(argv, "--backend", svc.Backend)
	}
	return argv
}

// probeTCP connects to addr from inside node and closes at once.
func (s *Site) probeTCP(node string, addr netip.AddrPort) error {
	return s.nodes[node].Do(func() error {
		c, err := net.DialTimeout("tcp", addr.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func (s *Site) nginxConf(node string, port int) (string, error) {
	root := filepath.Join(s.Dir, "www-"+node)
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(root, "index.html"), []byte(node+"\n"), 0o644); err != nil {
		return "", err
	}
	tmp := filepath.Join(root, "tmp")
	conf := fmt.Sprintf(`# nginx for lvssim real server %[1]s
daemon off;
master_process on;
user root;
worker_processes 1;
pid %[2]s/nginx-%[1]s.pid;
events { worker_connections 512; }
http {
    access_log off;
    client_body_temp_path %[4]s/body;
    proxy_temp_path %[4]s/proxy;
    fastcgi_temp_path %[4]s/fastcgi;
    server {
        listen %[3]d;
        root %[5]s;
        add_header X-Real-Server %[1]s;
        location / { }
    }
}
`, node, s.Dir, port, tmp, root)
	return s.writeFile("nginx-"+node+".conf", []byte(conf))
}

// vsftpdConf writes the guide's §3.5 settings (passive ports and the VIP as
// pasv_address) and an anonymous root holding whoami (the server's name)
// and data.bin (the deterministic download pattern). On a node with an
// IPv6 address vsftpd listens on IPv6 (listen_ipv6, which takes IPv4
// clients too); elsewhere on IPv4 alone, as the guide's servers do.
func (s *Site) vsftpdConf(node string, svc *Service, v6 bool) (string, error) {
	root := filepath.Join(s.Dir, "ftp-"+node)
	empty := filepath.Join(s.Dir, "ftp-empty")
	for _, d := range []string{root, empty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(root, "whoami"), []byte(node+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := writePattern(filepath.Join(root, "data.bin"), ftpFileSize); err != nil {
		return "", err
	}
	port := svc.Port
	if port == 0 {
		port = 21
	}
	listen := "listen=YES"
	if v6 {
		listen = "listen=NO\nlisten_ipv6=YES"
	}
	conf := fmt.Sprintf(`# vsftpd for lvssim real server %s (guide §3.5)
%s
listen_port=%d
background=NO
anonymous_enable=YES
local_enable=NO
write_enable=NO
anon_root=%s
no_anon_password=YES
secure_chroot_dir=%s
pasv_enable=YES
pasv_addr_resolve=NO
connect_from_port_20=YES
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
xferlog_enable=NO
ftpd_banner=lvssim %s
`, node, listen, port, root, empty, node)
	// The guide's §3.5 lines; without them (the FTP helper's site) vsftpd
	// announces its own address and any port.
	if svc.PasvMin != 0 {
		conf += fmt.Sprintf("pasv_min_port=%d\npasv_max_port=%d\n", svc.PasvMin, svc.PasvMax)
	}
	if svc.PasvAddr.IsValid() {
		conf += fmt.Sprintf("pasv_address=%s\n", svc.PasvAddr)
	}
	return s.writeFile("vsftpd-"+node+".conf", []byte(conf))
}

// ftpFileSize is the size of data.bin on every FTP real server.
const ftpFileSize = 10 << 20

func writePattern(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(newPattern(n)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
