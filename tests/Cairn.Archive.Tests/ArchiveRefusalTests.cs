using Cairn.Core.Storage;
using static Cairn.Archive.Tests.Images;

namespace Cairn.Archive.Tests;

/// <summary>Every kind of bad archive is refused with its reason; failed exports leave nothing behind.</summary>
public sealed class ArchiveRefusalTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();
    private static string Vol => ArchiveNames.ImageMember(Id);
    private static string MetaName => ArchiveNames.MetaMember(Id);

    private async Task<ArchiveWriteResult> SmallArchiveAsync(ArchiveCompression c = ArchiveCompression.Gzip, string sub = "out")
    {
        var image = _dir.File("image.raw");
        if (!File.Exists(image)) MakeSparse(image, (12L << 20) + 512);
        var outDir = Directory.CreateDirectory(_dir.File(sub)).FullName;
        return await ExportAsync(image, outDir, new ArchiveWriteOptions { Compression = c, ChunkSize = 256 << 10 },
            ct: TestContext.Current.CancellationToken);
    }

    private async Task<ArchiveException> RefusedAsync(string archive, ArchiveReadOptions? options = null)
    {
        var e = await Assert.ThrowsAsync<ArchiveException>(() => ImportAsync(archive, _dir.File("target.raw"), options));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
        return e;
    }

    /// <summary>Builds a tar.gz with Python's tarfile from (name, source file or null for an empty file, type).</summary>
    private async Task<string> CraftAsync(string name, params (string Member, string? Source, string Type)[] members)
    {
        var path = _dir.File(name);
        var spec = string.Join(";", members.Select(m => $"{m.Member}|{m.Source ?? ""}|{m.Type}"));
        const string py = """
            import sys, tarfile, io, os
            out, spec = sys.argv[1], sys.argv[2]
            with tarfile.open(out, 'w:gz', format=tarfile.GNU_FORMAT) as t:
                for item in spec.split(';'):
                    name, src, typ = item.split('|')
                    ti = tarfile.TarInfo(name)
                    if typ == 'sym':
                        ti.type = tarfile.SYMTYPE; ti.linkname = '/etc/passwd'; t.addfile(ti); continue
                    data = open(src, 'rb').read() if src else b''
                    ti.size = len(data)
                    t.addfile(ti, io.BytesIO(data))
            """;
        await ShAsync($"python3 -c {Q(py)} {Q(path)} {Q(spec)}");
        return path;
    }

    private async Task<(string Vol, string Meta)> LooseMembersAsync(string metaJson)
    {
        var vol = _dir.File("loose.vol");
        if (!File.Exists(vol)) MakeSparse(vol, (4L << 20) + 512, seed: 3);
        var meta = _dir.File("loose.meta");
        await File.WriteAllTextAsync(meta, metaJson, TestContext.Current.CancellationToken);
        return (vol, meta);
    }

    private const string GoodMeta = """{"version": 1, "volume": {}}""";

    [Fact]
    public async Task Flipped_byte_in_the_middle_is_refused()
    {
        var w = await SmallArchiveAsync();
        var bytes = await File.ReadAllBytesAsync(w.Path, TestContext.Current.CancellationToken);
        bytes[bytes.Length / 2] ^= 0x40;
        await File.WriteAllBytesAsync(w.Path, bytes, TestContext.Current.CancellationToken);
        var e = await RefusedAsync(w.Path);
        Assert.Contains(e.Error, new[] { ArchiveError.Corrupt, ArchiveError.DigestMismatch });
    }

    [Fact]
    public async Task Flipped_byte_in_an_archive_without_digest_is_caught_by_the_gzip_crc()
    {
        var (vol, meta) = await LooseMembersAsync(GoodMeta);
        var a = await CraftAsync("orig.tgz", (MetaName, meta, "reg"), (Vol, vol, "reg"));
        var bytes = await File.ReadAllBytesAsync(a, TestContext.Current.CancellationToken);
        bytes[bytes.Length / 2] ^= 0x01;
        await File.WriteAllBytesAsync(a, bytes, TestContext.Current.CancellationToken);
        Assert.Equal(ArchiveError.Corrupt, (await RefusedAsync(a)).Error);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(0.999)]
    public async Task Truncated_archive_is_refused(double keep)
    {
        var w = await SmallArchiveAsync();
        var bytes = await File.ReadAllBytesAsync(w.Path, TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(w.Path, bytes.AsSpan(0, (int)(bytes.Length * keep)).ToArray(), TestContext.Current.CancellationToken);
        var e = await RefusedAsync(w.Path);
        Assert.Contains(e.Error, new[] { ArchiveError.Truncated, ArchiveError.Corrupt });
    }

    [Fact]
    public async Task Archive_cut_inside_the_last_gzip_trailer_still_yields_only_the_complete_verified_image()
    {
        // .NET's inflater does not notice a missing trailer (CRC32/ISIZE) of the last member; what precedes it, the
        // tar end blocks, were read, and the digest proves the image whole. Anything cut earlier is refused (above).
        var w = await SmallArchiveAsync();
        var bytes = await File.ReadAllBytesAsync(w.Path, TestContext.Current.CancellationToken);
        await File.WriteAllBytesAsync(w.Path, bytes.AsSpan(0, bytes.Length - 3).ToArray(), TestContext.Current.CancellationToken);
        try
        {
            var (r, _) = await ImportAsync(w.Path, _dir.File("restored.raw"));
            Assert.True(r.DigestVerified);
            await ShAsync($"cmp {Q(_dir.File("image.raw"))} {Q(_dir.File("restored.raw"))}");
        }
        catch (ArchiveException e) { Assert.Contains(e.Error, new[] { ArchiveError.Truncated, ArchiveError.Corrupt }); }
    }

    [Fact]
    public async Task Bad_tar_header_checksum_is_refused()
    {
        var w = await SmallArchiveAsync(ArchiveCompression.None);
        var bytes = await File.ReadAllBytesAsync(w.Path, TestContext.Current.CancellationToken);
        bytes[20] ^= 0x01; // inside the first header's name field
        await File.WriteAllBytesAsync(w.Path, bytes, TestContext.Current.CancellationToken);
        var e = await RefusedAsync(w.Path);
        Assert.Equal(ArchiveError.Corrupt, e.Error);
        Assert.Contains("checksum", e.Message, StringComparison.Ordinal);
        await ShAsync($"gzip -c {Q(w.Path)} > {Q(w.Path + ".gz")}");
        Assert.Equal(ArchiveError.Corrupt, (await RefusedAsync(w.Path + ".gz")).Error);
    }

    [Fact]
    public async Task Wrong_digest_is_refused()
    {
        var w = await SmallArchiveAsync();
        var work = Directory.CreateDirectory(_dir.File("x")).FullName;
        await ShAsync($"cd {Q(work)} && tar -xzf {Q(w.Path)} && python3 -c \"import json; p='{MetaName}'; m=json.load(open(p)); m['cairn']['image_digest']='sha256-1m:'+'0'*64; json.dump(m, open(p,'w'))\" && tar czf ../wrong.tgz {MetaName} {Vol}");
        var e = await RefusedAsync(_dir.File("wrong.tgz"));
        Assert.Equal(ArchiveError.DigestMismatch, e.Error);
    }

    [Theory]
    [InlineData("../volume-7b220cb7-212f-411e-a8cd-41e6bdbac724.vol")]
    [InlineData("/volume-7b220cb7-212f-411e-a8cd-41e6bdbac724.vol")]
    [InlineData("sub/volume-7b220cb7-212f-411e-a8cd-41e6bdbac724.vol")]
    [InlineData("./../volume-7b220cb7-212f-411e-a8cd-41e6bdbac724.vol")]
    public async Task Path_tricks_in_member_names_are_refused(string name)
    {
        var (vol, meta) = await LooseMembersAsync(GoodMeta);
        var a = await CraftAsync("trick.tgz", (MetaName, meta, "reg"), (name, vol, "reg"));
        Assert.Equal(ArchiveError.PathTrick, (await RefusedAsync(a)).Error);
    }

    [Fact]
    public async Task Unexpected_members_are_refused()
    {
        var (vol, meta) = await LooseMembersAsync(GoodMeta);
        Assert.Equal(ArchiveError.UnexpectedMember, (await RefusedAsync(await CraftAsync("extra.tgz",
            (MetaName, meta, "reg"), (Vol, vol, "reg"), ("notes.txt", meta, "reg")))).Error);
        Assert.Equal(ArchiveError.UnexpectedMember, (await RefusedAsync(await CraftAsync("link.tgz",
            (MetaName, meta, "reg"), (Vol, null, "sym")))).Error);
        Assert.Equal(ArchiveError.UnexpectedMember, (await RefusedAsync(await CraftAsync("twice.tgz",
            (MetaName, meta, "reg"), (Vol, vol, "reg"), (Vol, vol, "reg")))).Error);
        Assert.Equal(ArchiveError.UnexpectedMember, (await RefusedAsync(await CraftAsync("other.tgz",
            (MetaName, meta, "reg"), ("volume-00000000-0000-0000-0000-000000000001.vol", vol, "reg")))).Error);
        var ok = await CraftAsync("ok.tgz", (MetaName, meta, "reg"), (Vol, vol, "reg"));
        Assert.Equal(ArchiveError.UnexpectedMember, (await RefusedAsync(ok, new ArchiveReadOptions { ExpectedVolumeId = Guid.NewGuid() })).Error);
    }

    [Fact]
    public async Task Missing_members_and_bad_meta_are_refused()
    {
        var (vol, meta) = await LooseMembersAsync(GoodMeta);
        Assert.Equal(ArchiveError.MissingMember, (await RefusedAsync(await CraftAsync("novol.tgz", (MetaName, meta, "reg")))).Error);
        Assert.Equal(ArchiveError.MissingMember, (await RefusedAsync(await CraftAsync("nometa.tgz", (Vol, vol, "reg")))).Error);
        var (_, bad) = await LooseMembersAsync("""{"version": 2}""");
        Assert.Equal(ArchiveError.BadMeta, (await RefusedAsync(await CraftAsync("v2.tgz", (MetaName, bad, "reg"), (Vol, vol, "reg")))).Error);
        var (_, notJson) = await LooseMembersAsync("not json");
        Assert.Equal(ArchiveError.BadMeta, (await RefusedAsync(await CraftAsync("nj.tgz", (MetaName, notJson, "reg"), (Vol, vol, "reg")))).Error);
    }

    [Fact]
    public async Task Oversize_and_size_mismatch_are_refused()
    {
        var (vol, meta) = await LooseMembersAsync(GoodMeta);
        var ok = await CraftAsync("ok.tgz", (Vol, vol, "reg"), (MetaName, meta, "reg"));
        Assert.Equal(ArchiveError.BadSize, (await RefusedAsync(ok, new ArchiveReadOptions { MaxImageSize = 1 << 20 })).Error);
        var (_, gib) = await LooseMembersAsync("""{"version": 1, "size": 1}""");
        Assert.Equal(ArchiveError.BadSize, (await RefusedAsync(await CraftAsync("gib.tgz", (MetaName, gib, "reg"), (Vol, vol, "reg")))).Error);
        var (_, cairn) = await LooseMembersAsync("""{"version": 1, "cairn": {"size": 5}}""");
        Assert.Equal(ArchiveError.BadSize, (await RefusedAsync(await CraftAsync("cs.tgz", (MetaName, cairn, "reg"), (Vol, vol, "reg")))).Error);
        Assert.Equal(ArchiveError.DigestMismatch, (await RefusedAsync(ok, new ArchiveReadOptions { RequireDigest = true })).Error);
    }

    [Theory]
    [InlineData(2)] // while scanning
    [InlineData(10)] // while streaming the data
    public async Task Failing_source_leaves_neither_temp_nor_final_file(int failAfter)
    {
        var image = _dir.File("image.raw");
        MakeSparse(image, (12L << 20) + 512);
        var outDir = Directory.CreateDirectory(_dir.File("out")).FullName;
        using var inner = new FileImageSource(image);
        var failing = new FailingSource(inner, failAfter);
        var name = ArchiveNames.FileName(Id, DateTimeOffset.UtcNow);
        await Assert.ThrowsAsync<IOException>(() => ArchiveWriter.WriteAsync(failing, Id, Meta(0), outDir, name,
            new ArchiveWriteOptions { ChunkSize = 64 << 10 }, ct: TestContext.Current.CancellationToken));
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public async Task Cancelled_export_leaves_neither_temp_nor_final_file()
    {
        var image = _dir.File("image.raw");
        MakeSparse(image, (12L << 20) + 512);
        var outDir = Directory.CreateDirectory(_dir.File("out")).FullName;
        using var cts = new CancellationTokenSource();
        var progress = new CancelOnFirst(cts);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => ExportAsync(image, outDir,
            new ArchiveWriteOptions { ChunkSize = 64 << 10 }, progress, cts.Token));
        Assert.Empty(Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public async Task Export_never_overwrites_an_existing_archive()
    {
        var w = await SmallArchiveAsync();
        var before = await File.ReadAllBytesAsync(w.Path, TestContext.Current.CancellationToken);
        using var src = new FileImageSource(_dir.File("image.raw"));
        var e = await Assert.ThrowsAsync<ArchiveException>(() => ArchiveWriter.WriteAsync(src, Id, Meta(0),
            Path.GetDirectoryName(w.Path)!, Path.GetFileName(w.Path), ct: TestContext.Current.CancellationToken));
        Assert.Equal(ArchiveError.BadFileName, e.Error);
        Assert.Equal(before, await File.ReadAllBytesAsync(w.Path, TestContext.Current.CancellationToken));
        Assert.Single(Directory.GetFileSystemEntries(Path.GetDirectoryName(w.Path)!));
    }

    [Fact]
    public async Task Random_mutations_are_refused_cleanly_or_read()
    {
        var gz = await SmallArchiveAsync(ArchiveCompression.Gzip, "gz");
        var plain = await SmallArchiveAsync(ArchiveCompression.None, "plain");
        var rnd = new Random(42);
        foreach (var original in new[] { await File.ReadAllBytesAsync(gz.Path, TestContext.Current.CancellationToken),
                     await File.ReadAllBytesAsync(plain.Path, TestContext.Current.CancellationToken) })
        {
            for (var i = 0; i < 150; i++)
            {
                var m = (byte[])original.Clone();
                switch (rnd.Next(3))
                {
                    case 0: // flip bytes, biased towards the headers at the start
                        for (var k = 0; k < 1 + rnd.Next(4); k++) m[rnd.Next(rnd.Next(2) == 0 ? Math.Min(4096, m.Length) : m.Length)] ^= (byte)(1 << rnd.Next(8));
                        break;
                    case 1:
                        m = m.AsSpan(0, rnd.Next(m.Length)).ToArray();
                        break;
                    default:
                        var at = rnd.Next(m.Length);
                        var junk = new byte[1 + rnd.Next(600)];
                        rnd.NextBytes(junk);
                        m = [.. m.AsSpan(0, at), .. junk, .. m.AsSpan(at)];
                        break;
                }
                using var ms = new MemoryStream(m);
                try
                {
                    var r = await ArchiveReader.ReadAsync(ms, (_, _) => ValueTask.CompletedTask, ct: TestContext.Current.CancellationToken);
                    // Only a mutation that changed nothing the reader checks may pass: the image must still verify.
                    Assert.True(r.DigestVerified);
                }
                catch (ArchiveException) { }
            }
        }
    }

    private sealed class FailingSource(IImageSource inner, int failAfter) : IImageSource
    {
        private int _reads;
        public long Size => inner.Size;
        public IReadOnlyList<ByteRange> GetAllocatedRanges(long offset, long length) => inner.GetAllocatedRanges(offset, length);
        public void Read(long offset, Span<byte> buffer)
        {
            if (Interlocked.Increment(ref _reads) > failAfter) throw new IOException("injected read failure");
            inner.Read(offset, buffer);
        }
    }

    private sealed class CancelOnFirst(CancellationTokenSource cts) : IProgress<ArchiveProgress>
    {
        public void Report(ArchiveProgress value) => cts.Cancel();
    }
}
