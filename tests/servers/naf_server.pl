#!/usr/bin/perl
# naf_server.pl UNIX_PATH|PORT: a multiplexing FastCGI server for tests,
# built on Net::Async::FastCGI (Debian libnet-async-fastcgi-perl).
# Prints "READY" on stdout once listening. Every request is answered with
#   Content-Type: text/plain, X-Conn: <connection number>,
#   X-Conns: <connections accepted so far>, X-Req-Id: <FastCGI id>
# and a body "tag=<tag> conn=<n> id=<id> stdin=<bytes> tp=<HTTP_TRACEPARENT
# or ->\n" followed by the
# stdin it got. QUERY_STRING keys: sleep=MS (answer after MS ms, on a
# timer, so requests on one connection are answered out of order),
# tag=TEXT, big=N (N extra bytes of body).
use strict;
use warnings;
use IO::Async::Loop;
use IO::Async::Timer::Countdown;
use IO::Socket::UNIX;
use IO::Socket::INET;
use Net::Async::FastCGI;
use Scalar::Util qw(refaddr);

$| = 1;
defined(my $where = shift) or die "usage: $0 UNIX_PATH|PORT\n";
my $sock;
if ($where =~ /^\d+$/) {
  $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $where,
    Listen => 256, ReuseAddr => 1) or die "listen 127.0.0.1:$where: $!\n";
} else {
  unlink $where;
  $sock = IO::Socket::UNIX->new(Local => $where, Listen => 256)
    or die "listen $where: $!\n";
}
my $loop = IO::Async::Loop->new;
my (%conn_no, $conns);
$conns = 0;

sub answer {
  my ($req, $n) = @_;
  my %q = map { my ($k, $v) = split /=/, $_, 2; ($k, $v // '') }
    grep { length } split /&/, ($req->param('QUERY_STRING') // '');
  my $stdin = $req->read_stdin(1 << 30) // '';
  my $body = sprintf "tag=%s conn=%d id=%d stdin=%d tp=%s\n", $q{tag} // '',
    $n, $req->{reqid}, length $stdin, $req->param('HTTP_TRACEPARENT') // '-';
  $body .= $stdin;
  $body .= 'x' x $q{big} if $q{big};
  return if $req->is_aborted;
  $req->print_stdout("Content-Type: text/plain\r\nX-Conn: $n\r\n"
    . "X-Conns: $conns\r\nX-Req-Id: $req->{reqid}\r\n\r\n$body");
  $req->finish(0);
}

my $fcgi = Net::Async::FastCGI->new(
  handle => $sock,
  on_request => sub {
    my ($self, $req) = @_;
    my $c = $req->{conn};
    $conn_no{refaddr $c} //= ++$conns;
    my $n = $conn_no{refaddr $c};
    my ($ms) = ($req->param('QUERY_STRING') // '') =~ /(?:^|&)sleep=(\d+)/;
    if ($ms) {
      my $t;
      $t = IO::Async::Timer::Countdown->new(delay => $ms / 1000,
        on_expire => sub { answer($req, $n); $loop->remove($t); });
      $t->start;
      $loop->add($t);
    } else {
      answer($req, $n);
    }
  },
);
$loop->add($fcgi);
print "READY\n";
$loop->run;
