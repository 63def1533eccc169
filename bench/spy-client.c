/*
 * A minimal read-only client for Switchboard's TCP attach port, the counterpart of conserver's C
 * client `console -s` in the fan-out bench: connect, send the handshake line (from $BENCH_HELLO, so
 * the token is not on the command line), then copy everything received to stdout. Its loop is
 * console's: select(), read(), write().
 *
 *   BENCH_HELLO='{"node":"n1","mode":"ro","token":"...","replay":false}' spy-client 127.0.0.1 PORT
 *
 * Built by the bench (cc -O2) into bench/out/.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR) continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv) {
	static char buf[65536];
	const char *hello = getenv("BENCH_HELLO");
	struct sockaddr_in addr;
	int fd;

	if (argc != 3 || hello == NULL) {
		fprintf(stderr, "usage: BENCH_HELLO='{...}' %s HOST PORT\n", argv[0]);
		return 2;
	}
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", argv[1]);
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		perror("connect");
		return 1;
	}
	if (write_all(fd, hello, strlen(hello)) < 0 || write_all(fd, "\n", 1) < 0) {
		perror("write");
		return 1;
	}
	for (;;) {
		fd_set rd;
		ssize_t n;
		FD_ZERO(&rd);
		FD_SET(fd, &rd);
		if (select(fd + 1, &rd, NULL, NULL, NULL) < 0) {
			if (errno == EINTR) continue;
			perror("select");
			return 1;
		}
		n = read(fd, buf, sizeof buf);
		if (n == 0) return 0;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN) continue;
			perror("read");
			return 1;
		}
		if (write_all(1, buf, (size_t)n) < 0) {
			perror("write");
			return 1;
		}
	}
}
