#!/usr/bin/perl
# fork + pipes: 16 children each hash a slice of generated records with
# Digest::SHA and write their result into a pipe; the parent reads them in
# order and prints a digest; and the same work on ithreads (4 threads).
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use threads;

my $nchild = 16;
my $records = 40000;

sub work {
    my ($id) = @_;
    my $sha = Digest::SHA->new(256);
    my %seen;
    for my $i (0 .. $records - 1) {
        my $rec = join(",", $id, $i, ($i * 2654435761) % 1000003, "x" x ($i % 11));
        $seen{ substr(sha256_hex($rec), 0, 4) }++;
        $sha->add($rec);
    }
    return $sha->hexdigest . " " . scalar(keys %seen);
}

# threads first: a thread clones the interpreter, and Digest::SHA objects
# alive at that moment would be freed twice
my @thr = map { my $id = $_; threads->create(sub { work(100 + $id) }) } 0 .. 3;
my $tall = Digest::SHA->new(256);
$tall->add($_->join) for @thr;
my $tdigest = $tall->hexdigest;
undef $tall;

my @readers;
for my $id (0 .. $nchild - 1) {
    pipe(my $r, my $w) or die "pipe: $!";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        close $r;
        print $w work($id), "\n";
        close $w;
        exit 0;
    }
    close $w;
    push @readers, [$pid, $r];
}
my $all = Digest::SHA->new(256);
for my $p (@readers) {
    my ($pid, $r) = @$p;
    my $line = <$r>;
    close $r;
    waitpid($pid, 0);
    die "child failed: $?" if $?;
    $all->add($line);
}
print "forked $nchild: ", $all->hexdigest, "\n";

print "threads 4: $tdigest\n";
