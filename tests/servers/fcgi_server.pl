#!/usr/bin/perl
# fcgi_server.pl UNIX_PATH|PORT: a non-multiplexing FastCGI server for
# tests, built on the FCGI module (libfcgi, Debian libfcgi-perl): one
# request at a time, END_REQUEST(CANT_MPX_CONN) for a second request on a
# connection, GET_VALUES answered only once a request was processed.
# Prints "READY" on stdout once listening. Answers
#   Content-Type: text/plain, X-Served: <requests served so far>
# and a body "tag=<tag> served=<n> stdin=<bytes>\n". QUERY_STRING keys:
# sleep=MS, tag=TEXT.
use strict;
use warnings;
use FCGI;
use IO::Handle;
use Time::HiRes qw(usleep);

defined(my $where = shift) or die "usage: $0 UNIX_PATH|PORT\n";
unlink $where if $where !~ /^\d+$/;
my $sock = FCGI::OpenSocket($where =~ /^\d+$/ ? "127.0.0.1:$where" : $where,
  128) or die "listen $where: $!\n";
my %env;
my ($in, $out, $err) = (IO::Handle->new, IO::Handle->new, IO::Handle->new);
my $req = FCGI::Request($in, $out, $err, \%env, $sock);
syswrite STDOUT, "READY\n";
my $served = 0;
while ($req->Accept() >= 0) {
  $served++;
  my %q = map { my ($k, $v) = split /=/, $_, 2; ($k, $v // '') }
    grep { length } split /&/, ($env{QUERY_STRING} // '');
  my $stdin = '';
  my $len = $env{CONTENT_LENGTH} // 0;
  read($in, $stdin, $len) if $len;
  usleep($q{sleep} * 1000) if $q{sleep};
  print $out "Content-Type: text/plain\r\nX-Served: $served\r\n\r\n"
    . sprintf("tag=%s served=%d stdin=%d\n", $q{tag} // '', $served,
      length $stdin);
  $req->Finish();
}
