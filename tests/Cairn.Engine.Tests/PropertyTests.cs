using Cairn.Core;
using Cairn.Core.Storage;

namespace Cairn.Engine.Tests;

/// <summary>
/// Random sequences of operations over several volumes, checked read by read against a plain in-memory model
/// (a byte array per volume and per snapshot). A failure prints the seed and the operations that led to it.
/// </summary>
public class PropertyTests
{
    private const int Sector = 512;

    private sealed class Model
    {
        public readonly Dictionary<string, byte[]> Volumes = [];
        public readonly Dictionary<string, byte[]> Snapshots = []; // "vol@snap"
        public readonly Dictionary<string, string> Origins = [];   // clone → "vol@snap"
        public bool HasClones(string snap) => Origins.ContainsValue(snap);
        public IEnumerable<string> SnapshotsOf(string vol) => Snapshots.Keys.Where(k => k.StartsWith(vol + "@", StringComparison.Ordinal));
    }

    /// <summary>A fixed set of seeds, each its own case: the same sequences run on a fast machine and a loaded one.</summary>
    public static TheoryData<int> Seeds() => [.. Enumerable.Range(1, 16)];

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_operation_sequences_match_the_in_memory_model(int seed) => RunSeed(seed, 150);

    private static void RunSeed(int seed, int steps)
    {
        var rng = new Random(seed);
        var log = new List<string>();
        using var pool = new TempPool();
        var engine = pool.Open();
        var model = new Model();
        int names = 0;
        try
        {
            for (int step = 0; step < steps; step++)
            {
                var vols = model.Volumes.Keys.Order(StringComparer.Ordinal).ToList();
                var snaps = model.Snapshots.Keys.Order(StringComparer.Ordinal).ToList();
                int op = vols.Count == 0 ? 0 : rng.Next(100);
                if (op < 6 && vols.Count < 6)
                {
                    long size = rng.Next(8) == 0 ? (17L << 20) + 8192 : 128 << 10;
                    var name = $"p/v{names++}";
                    log.Add($"create {name} {size}");
                    engine.CreateVolume(name, size);
                    model.Volumes[name] = new byte[size];
                }
                else if (op < 40)
                {
                    var v = Pick(rng, vols);
                    var (off, len) = Range(rng, model.Volumes[v].Length);
                    var data = TempPool.Pattern(len, rng.Next());
                    bool fua = rng.Next(10) == 0;
                    log.Add($"write {v} {off} {len}{(fua ? " fua" : "")}");
                    using (var d = engine.Open(v)) d.Write(off, data, fua);
                    data.CopyTo(model.Volumes[v], off);
                }
                else if (op < 55)
                {
                    var v = Pick(rng, vols);
                    var (off, len) = Range(rng, model.Volumes[v].Length);
                    log.Add($"read {v} {off} {len}");
                    var buf = new byte[len];
                    using (var d = engine.Open(v)) d.Read(off, buf);
                    AssertSame(model.Volumes[v].AsSpan(off, len), buf, $"{v} [{off}, +{len})");
                }
                else if (op < 62)
                {
                    var v = Pick(rng, vols);
                    var (off, len) = Range(rng, model.Volumes[v].Length);
                    bool discard = rng.Next(2) == 0;
                    log.Add($"{(discard ? "discard" : "write-zeroes")} {v} {off} {len}");
                    using (var d = engine.Open(v))
                    {
                        if (discard) d.Discard(off, len);
                        else d.WriteZeroes(off, len, unmap: rng.Next(2) == 0);
                    }
                    Array.Clear(model.Volumes[v], off, len);
                }
                else if (op < 70)
                {
                    var v = Pick(rng, vols);
                    var s = $"s{names++}";
                    log.Add($"snapshot {v}@{s}");
                    engine.CreateSnapshot(v, s);
                    model.Snapshots[$"{v}@{s}"] = (byte[])model.Volumes[v].Clone();
                }
                else if (op < 76 && snaps.Count > 0 && vols.Count < 8)
                {
                    var s = Pick(rng, snaps);
                    var name = $"p/v{names++}";
                    log.Add($"clone {s} {name}");
                    var (ds, sn) = Names.ValidateSnapshot(s);
                    engine.Clone(ds, sn, name);
                    model.Volumes[name] = (byte[])model.Snapshots[s].Clone();
                    model.Origins[name] = s;
                }
                else if (op < 80 && snaps.Count > 0)
                {
                    var s = Pick(rng, snaps);
                    var (ds, sn) = Names.ValidateSnapshot(s);
                    var (off, len) = Range(rng, model.Snapshots[s].Length);
                    log.Add($"read {s} {off} {len}");
                    var buf = new byte[len];
                    using (var d = engine.OpenSnapshot(ds, sn)) d.Read(off, buf);
                    AssertSame(model.Snapshots[s].AsSpan(off, len), buf, $"{s} [{off}, +{len})");
                }
                else if (op < 83 && snaps.Count > 0)
                {
                    var s = Pick(rng, snaps);
                    var (ds, sn) = Names.ValidateSnapshot(s);
                    log.Add($"destroy-snapshot {s}");
                    if (model.HasClones(s))
                        Assert.Equal(ErrorKind.Conflict, Assert.Throws<CairnException>(() => engine.DestroySnapshot(ds, sn)).Kind);
                    else
                    {
                        engine.DestroySnapshot(ds, sn);
                        model.Snapshots.Remove(s);
                    }
                }
                else if (op < 86)
                {
                    var v = Pick(rng, vols);
                    bool recursive = rng.Next(2) == 0;
                    log.Add($"destroy {v}{(recursive ? " -r" : "")}");
                    var own = model.SnapshotsOf(v).ToList();
                    bool refused = own.Any(model.HasClones) || (own.Count > 0 && !recursive);
                    if (refused)
                        Assert.Equal(ErrorKind.Conflict, Assert.Throws<CairnException>(() => engine.Destroy(v, recursive)).Kind);
                    else
                    {
                        engine.Destroy(v, recursive);
                        model.Volumes.Remove(v);
                        model.Origins.Remove(v);
                        foreach (var s in own) model.Snapshots.Remove(s);
                    }
                }
                else if (op < 89)
                {
                    var v = Pick(rng, vols);
                    var old = model.Volumes[v];
                    long size = old.Length + Sector * rng.Next(1, 300);
                    log.Add($"resize {v} {size}");
                    engine.Resize(v, size);
                    var grown = new byte[size];
                    old.CopyTo(grown, 0);
                    model.Volumes[v] = grown;
                }
                else if (op < 92)
                {
                    var v = Pick(rng, vols);
                    log.Add($"allocated {v}");
                    using var d = engine.Open(v);
                    CheckAllocated(model.Volumes[v], d.GetAllocatedRanges(0, d.Size), v);
                }
                else if (op < 96)
                {
                    var v = Pick(rng, vols);
                    log.Add($"flush {v}");
                    using var d = engine.Open(v);
                    d.Flush();
                }
                else
                {
                    log.Add("reopen");
                    engine.Dispose();
                    engine = pool.Open();
                }
            }
            log.Add("verify all");
            VerifyAll(engine, model);
            engine.Dispose();
            log.Add("reopen + verify all");
            engine = pool.Open();
            VerifyAll(engine, model);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"seed {seed} failed at step {log.Count}: {e.Message}\n  " + string.Join("\n  ", log) + "\n" + e);
        }
        finally
        {
            engine.Dispose();
        }
    }

    private static void VerifyAll(EmbeddedEngine engine, Model model)
    {
        foreach (var (v, bytes) in model.Volumes)
        {
            using var d = engine.Open(v);
            Assert.Equal(bytes.Length, d.Size);
            var buf = new byte[bytes.Length];
            d.Read(0, buf);
            AssertSame(bytes, buf, v);
            CheckAllocated(bytes, d.GetAllocatedRanges(0, d.Size), v);
        }
        foreach (var (s, bytes) in model.Snapshots)
        {
            var (ds, sn) = Names.ValidateSnapshot(s);
            using var d = engine.OpenSnapshot(ds, sn);
            var buf = new byte[bytes.Length];
            d.Read(0, buf);
            AssertSame(bytes, buf, s);
        }
        Assert.Equal(model.Snapshots.Count, engine.ListSnapshots().Count);
        Assert.Equal(model.Volumes.Count, engine.List().Count(i => i.Kind == DatasetKind.Volume));
    }

    private static void CheckAllocated(byte[] bytes, IReadOnlyList<ByteRange> ranges, string what)
    {
        long prevEnd = -1;
        foreach (var r in ranges)
        {
            Assert.True(r.Offset > prevEnd && r.Length > 0 && r.End <= bytes.Length, $"{what}: bad range list");
            prevEnd = r.End;
        }
        // Everything outside the allocated ranges must read as zeros.
        long pos = 0;
        foreach (var r in ranges.Append(new ByteRange(bytes.Length, 0)))
        {
            int nz = bytes.AsSpan((int)pos, (int)(r.Offset - pos)).IndexOfAnyExcept((byte)0);
            Assert.True(nz < 0, $"{what}: nonzero byte at {pos + nz} outside the allocated ranges");
            pos = r.End;
        }
    }

    private static void AssertSame(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, string what)
    {
        if (expected.SequenceEqual(actual)) return;
        int i = 0;
        while (expected[i] == actual[i]) i++;
        throw new Xunit.Sdk.XunitException($"{what}: first difference at byte {i} (expected {expected[i]}, read {actual[i]})");
    }

    private static string Pick(Random rng, List<string> list) => list[rng.Next(list.Count)];

    /// <summary>Sector-aligned ranges clustered on a few hot spots (start, end, a page boundary) so ops overlap.</summary>
    private static (int Offset, int Length) Range(Random rng, int size)
    {
        int[] spots = size > (16 << 20) ? [0, 16 << 20, size - (64 << 10)] : [0, size / 2 / Sector * Sector, size - (64 << 10)];
        int baseOff = Math.Max(0, spots[rng.Next(spots.Length)] - (32 << 10));
        int off = baseOff + Sector * rng.Next(0, 128);
        int len = Sector * (rng.Next(4) == 0 ? rng.Next(1, 9) : rng.Next(1, 80));
        off = Math.Min(off, size - Sector);
        len = Math.Min(len, size - off);
        return (off, len);
    }
}
