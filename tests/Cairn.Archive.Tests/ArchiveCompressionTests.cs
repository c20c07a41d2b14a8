using static Cairn.Archive.Tests.Images;

namespace Cairn.Archive.Tests;

/// <summary>
/// The export's compression: incompressible chunks stored, compressible ones compressed, and the same archive whatever
/// the number of workers (the parallel scan and the parallel members change only the speed).
/// </summary>
public sealed class ArchiveCompressionTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private static byte[] Random(int n, int seed = 3)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    /// <summary>Text-like data: words from a small vocabulary, compressible by level 1 and by level 6.</summary>
    private static byte[] Text(int n, int seed = 4)
    {
        var rnd = new Random(seed);
        string[] words = ["volume", "snapshot", "export", "import", "cinder", "archive", "tar", "gzip", "block", "extent"];
        var sb = new System.Text.StringBuilder(n + 16);
        while (sb.Length < n) sb.Append(words[rnd.Next(words.Length)]).Append(rnd.Next(8) == 0 ? '\n' : ' ');
        return System.Text.Encoding.ASCII.GetBytes(sb.ToString(0, n));
    }

    [Fact]
    public void Probe_finds_random_data_incompressible_and_text_zeros_and_mixed_chunks_compressible()
    {
        const int mib = 1 << 20;
        Assert.True(ParallelGzipWriter.LooksIncompressible(Random(mib)));
        Assert.False(ParallelGzipWriter.LooksIncompressible(Text(mib)));
        Assert.False(ParallelGzipWriter.LooksIncompressible(new byte[mib]));
        // Random everywhere except the last quarter, where the last sample lands: compressed, not stored.
        var mixed = Random(mib);
        Text(mib / 4).CopyTo(mixed, mib - mib / 4);
        Assert.False(ParallelGzipWriter.LooksIncompressible(mixed));
        // Too short to sample: compressed as before.
        Assert.False(ParallelGzipWriter.LooksIncompressible(Random(64 << 10)));
    }

    [Fact]
    public async Task Random_data_is_stored_text_is_compressed_and_both_read_back_with_gzip_and_tar()
    {
        // 8 MiB of random data, then 8 MiB of text: the first half's members are stored, the second's compressed.
        var image = _dir.File("image.raw");
        await File.WriteAllBytesAsync(image, [.. Random(8 << 20), .. Text(8 << 20)], TestContext.Current.CancellationToken);
        var stored = await ExportAsync(image, Directory.CreateDirectory(_dir.File("a")).FullName, ct: TestContext.Current.CancellationToken);
        var full = await ExportAsync(image, Directory.CreateDirectory(_dir.File("b")).FullName,
            new ArchiveWriteOptions { StoreIncompressible = false }, ct: TestContext.Current.CancellationToken);
        Assert.Equal(full.ImageDigest, stored.ImageDigest);
        // Stored random data costs its size plus a few bytes a block; the text still compresses as at level 6.
        Assert.InRange(stored.ArchiveBytes, (8L << 20) + 1, (8L << 20) + (8L << 20) / 3);
        Assert.InRange(stored.ArchiveBytes, full.ArchiveBytes - (64 << 10), full.ArchiveBytes + (64 << 10));
        Assert.Equal(0, await CountStoredMembersAsync(full.Path));
        Assert.InRange(await CountStoredMembersAsync(stored.Path), 7, 9); // the 8 random MiB (tar headers shift chunks by a few KiB)

        var member = ArchiveNames.ImageMember(Id);
        foreach (var w in new[] { stored, full })
        {
            await ShAsync($"gzip -t {Q(w.Path)}");
            await ShAsync($"tar -xzf {Q(w.Path)} -O {member} | cmp - {Q(image)}");
            var (r, _) = await ImportAsync(w.Path, _dir.File("restored.raw"));
            Assert.True(r.DigestVerified);
            await ShAsync($"cmp {Q(image)} {Q(_dir.File("restored.raw"))}");
        }
    }

    [Fact]
    public async Task Archive_bytes_do_not_depend_on_the_number_of_workers()
    {
        var image = _dir.File("image.raw");
        MakeSparse(image, (300L << 20) + 4096); // more 1 MiB blocks than one scan window
        var time = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);
        var archives = new List<byte[]>();
        foreach (var workers in new[] { 1, 2, 5 })
        {
            var w = await ExportAsync(image, Directory.CreateDirectory(_dir.File($"w{workers}")).FullName,
                new ArchiveWriteOptions { Workers = workers, Time = time, ChunkSize = 256 << 10 }, ct: TestContext.Current.CancellationToken);
            archives.Add(await File.ReadAllBytesAsync(w.Path, TestContext.Current.CancellationToken));
        }
        Assert.Equal(archives[0], archives[1]);
        Assert.Equal(archives[0], archives[2]);
    }

    /// <summary>
    /// Python's zlib walks the gzip members one at a time (each inflated and CRC-checked on its own) and counts those
    /// written at level 0: zlib records the level class in the header's XFL byte (RFC 1952 §2.3.1; 4 below level 2,
    /// 0 for levels 2-8). Deflate at level 6 stores random data too, so the block type alone would not tell.
    /// </summary>
    private const string PyMembers = """
        import sys, zlib
        data = open(sys.argv[1], 'rb').read()
        members = stored = 0
        while data:
            assert data[:2] == b'\x1f\x8b' and data[3] == 0, 'member header'
            if data[8] == 4: stored += 1
            d = zlib.decompressobj(31)
            d.decompress(data)
            assert d.eof, 'member ends'
            data = d.unused_data
            members += 1
        print(stored)
        """;

    private static async Task<int> CountStoredMembersAsync(string path) =>
        int.Parse((await ShAsync($"python3 -c {Q(PyMembers)} {Q(path)}")).Trim(), System.Globalization.CultureInfo.InvariantCulture);
}
