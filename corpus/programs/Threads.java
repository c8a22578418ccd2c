// 200 short CPU-bound platform threads, then a parallel stream on the
// common ForkJoinPool; prints a digest of the results on stdout and the
// pool sizes the JVM chose as corpus-pool lines on stderr.
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.stream.LongStream;

public class Threads {
    static long mix(long x, int rounds) {
        for (int i = 0; i < rounds; i++) {
            x ^= x << 13; x ^= x >>> 7; x ^= x << 17;
            x = x * 0x9E3779B97F4A7C15L + i;
        }
        return x;
    }

    public static void main(String[] args) throws Exception {
        int nthreads = args.length > 0 ? Integer.parseInt(args[0]) : 200;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 2_000_000;
        System.err.println("corpus-pool jvm " + Runtime.getRuntime().availableProcessors());
        System.err.println("corpus-pool forkjoin " + ForkJoinPool.commonPool().getParallelism());

        AtomicLongArray results = new AtomicLongArray(nthreads);
        Thread[] ts = new Thread[nthreads];
        for (int i = 0; i < nthreads; i++) {
            final int id = i;
            ts[i] = new Thread(() -> results.set(id, mix(id + 1, rounds)), "worker-" + i);
            ts[i].start();
        }
        for (Thread t : ts) t.join();
        long h = 0;
        for (int i = 0; i < nthreads; i++) h = h * 31 + results.get(i);

        long s = LongStream.range(0, 4_000_000).parallel()
                .map(x -> mix(x, 20) & 0xffff).sum();
        System.out.println("threads " + nthreads + " digest " + Long.toHexString(h));
        System.out.println("stream sum " + s);
    }
}
