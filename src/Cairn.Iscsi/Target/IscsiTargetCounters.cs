using System.Diagnostics;

namespace Cairn.Iscsi.Target;

/// <summary>
/// Per-target command figures, updated by the session loops on every SCSI command: lock-free and allocation-free
/// (one Interlocked increment of a latency bucket, which is also the command count, one Interlocked add of the time,
/// and one of the bytes moved when there were any). One instance per target, shared by its sessions: a session fetches
/// it once, at login. Read on scrape.
/// </summary>
public sealed class IscsiTargetCounters
{
    /// <summary>Upper bounds (seconds) of the command latency histogram buckets; the last bucket is +Inf.</summary>
    public static readonly double[] BucketBounds = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

    private static readonly long[] s_boundTicks = [.. BucketBounds.Select(s => (long)(s * Stopwatch.Frequency))];

    private readonly long[] _buckets = new long[BucketBounds.Length + 1];
    private long _ticks, _bytesRead, _bytesWritten;

    /// <summary>Records one command that took <paramref name="elapsedTicks"/> (Stopwatch ticks) and moved these bytes.</summary>
    public void Record(long elapsedTicks, int bytesRead, int bytesWritten)
    {
        int i = 0;
        while (i < s_boundTicks.Length && elapsedTicks > s_boundTicks[i]) i++;
        Interlocked.Increment(ref _buckets[i]);
        Interlocked.Add(ref _ticks, elapsedTicks);
        if (bytesRead > 0) Interlocked.Add(ref _bytesRead, bytesRead);
        if (bytesWritten > 0) Interlocked.Add(ref _bytesWritten, bytesWritten);
    }

    /// <summary>Adds these figures to <paramref name="total"/> (when a target is removed; never on a command's path).</summary>
    public void AddTo(IscsiTargetCounters total)
    {
        ArgumentNullException.ThrowIfNull(total);
        for (int i = 0; i < _buckets.Length; i++) Interlocked.Add(ref total._buckets[i], Volatile.Read(ref _buckets[i]));
        Interlocked.Add(ref total._ticks, Volatile.Read(ref _ticks));
        Interlocked.Add(ref total._bytesRead, Volatile.Read(ref _bytesRead));
        Interlocked.Add(ref total._bytesWritten, Volatile.Read(ref _bytesWritten));
    }

    /// <summary>Commands executed.</summary>
    public long Commands
    {
        get
        {
            long n = 0;
            for (int i = 0; i < _buckets.Length; i++) n += Volatile.Read(ref _buckets[i]);
            return n;
        }
    }

    /// <summary>Data-in bytes sent to initiators.</summary>
    public long BytesRead => Volatile.Read(ref _bytesRead);

    /// <summary>Data-out bytes received from initiators and handed to the logical units.</summary>
    public long BytesWritten => Volatile.Read(ref _bytesWritten);

    /// <summary>Total command time in seconds.</summary>
    public double Seconds => Volatile.Read(ref _ticks) / (double)Stopwatch.Frequency;

    /// <summary>Commands per bucket (not cumulative); index <c>BucketBounds.Length</c> is the +Inf bucket.</summary>
    public long Bucket(int index) => Volatile.Read(ref _buckets[index]);
}
