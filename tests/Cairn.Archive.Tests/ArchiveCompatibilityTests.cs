using static Cairn.Archive.Tests.Images;

namespace Cairn.Archive.Tests;

/// <summary>Archives Cairn writes read back through GNU tar, gzip and Python's tarfile, and through the reader.</summary>
public sealed class ArchiveCompatibilityTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    private const string PyCompare = """
        import sys, tarfile
        with tarfile.open(sys.argv[1]) as t, open(sys.argv[3], 'rb') as img:
            f = t.extractfile(sys.argv[2])
            n = 0
            while True:
                a = f.read(1 << 20); b = img.read(1 << 20)
                if a != b: sys.exit('differs near %d' % n)
                if not a: break
                n += len(a)
            print(n)
        """;

    private const string PyDigest = """
        import hashlib, sys
        outer = hashlib.sha256()
        with open(sys.argv[1], 'rb') as f:
            while block := f.read(1 << 20):
                outer.update(hashlib.sha256(block).digest())
        print('sha256-1m:' + outer.hexdigest())
        """;

    [Fact]
    public async Task Archive_of_an_image_over_8_GiB_reads_back_byte_for_byte_with_tar_python_and_the_reader()
    {
        var image = _dir.File("image.raw");
        var size = (9L << 30) + (1 << 20) + (512 << 10); // > 8 GiB, last 1 MiB block short
        MakeSparse(image, size);
        var outDir = Directory.CreateDirectory(_dir.File("backups")).FullName;
        var progress = new List<ArchiveProgress>();
        var w = await ExportAsync(image, outDir, progress: new SyncProgress(progress.Add), ct: TestContext.Current.CancellationToken);
        Assert.Equal(size, w.ImageSize);
        Assert.True(w.DataBytes < 8 << 20, $"only non-zero data is stored, got {w.DataBytes}");
        Assert.Equal(new ArchiveProgress(size, size), progress[^1]);
        Assert.Single(Directory.GetFiles(outDir));
        var a = Q(w.Path);
        var member = ArchiveNames.ImageMember(Id);

        var listing = await ShAsync($"tar -tzvf {a}");
        Assert.Contains(ArchiveNames.MetaMember(Id), listing, StringComparison.Ordinal);
        Assert.Contains(member, listing, StringComparison.Ordinal);
        Assert.Contains(size.ToString(System.Globalization.CultureInfo.InvariantCulture), listing, StringComparison.Ordinal);
        await ShAsync($"gzip -t {a}");
        await ShAsync($"tar -xzf {a} -O {member} | cmp - {Q(image)}", 10);
        await ShAsync($"python3 -c {Q(PyCompare)} {a} {member} {Q(image)}", 10);
        Assert.Equal(w.ImageDigest, (await ShAsync($"python3 -c {Q(PyDigest)} {Q(image)}", 10)).Trim());

        var (r, written) = await ImportAsync(w.Path, _dir.File("restored.raw"));
        Assert.True(r.DigestVerified);
        Assert.Equal(w.ImageDigest, r.ImageDigest);
        Assert.Equal(size, r.ImageSize);
        Assert.Equal(Id, r.VolumeId);
        Assert.True(written <= w.DataBytes, "the reader writes no more than the non-zero data");
        await ShAsync($"cmp {Q(image)} {Q(_dir.File("restored.raw"))}", 10);
    }

    [Theory]
    [InlineData(ArchiveCompression.Gzip)]
    [InlineData(ArchiveCompression.None)]
    public async Task Small_archive_restores_with_tar_dd_as_the_original_did(ArchiveCompression compression)
    {
        var image = _dir.File("image.raw");
        MakeSparse(image, (24L << 20) + 4096);
        var w = await ExportAsync(image, _dir.Path, new ArchiveWriteOptions { Compression = compression, ChunkSize = 64 << 10, Workers = 3 }, ct: TestContext.Current.CancellationToken);
        var z = compression == ArchiveCompression.Gzip ? "z" : "";
        // The original's restore procedure: tar -xzf ARCHIVE -O volume-<uuid>.vol | dd of=DEVICE
        await ShAsync($"tar -x{z}f {Q(w.Path)} -O {ArchiveNames.ImageMember(Id)} | dd of={Q(_dir.File("dd.raw"))} bs=1M status=none && cmp {Q(image)} {Q(_dir.File("dd.raw"))}");
        await ShAsync($"tar -x{z}f {Q(w.Path)} -O {ArchiveNames.MetaMember(Id)} | python3 -c 'import json,sys; m=json.load(sys.stdin); assert m[\"version\"]==1 and m[\"cairn\"][\"image_digest\"].startswith(\"sha256-1m:\")'");
        var (r, written) = await ImportAsync(w.Path, _dir.File("restored.raw"));
        Assert.True(r.DigestVerified);
        await ShAsync($"cmp {Q(image)} {Q(_dir.File("restored.raw"))}");
        Assert.Equal(CountNonZeroPieces(image, 4096) * 4096, written);
    }

    private static long CountNonZeroPieces(string path, int piece)
    {
        var data = File.ReadAllBytes(path);
        long n = 0;
        for (var i = 0; i < data.Length; i += piece)
            if (data.AsSpan(i, Math.Min(piece, data.Length - i)).ContainsAnyExcept((byte)0)) n++;
        return n;
    }

    public static TheoryData<string> OriginalArchives => new()
    {
        "tar czf {A} {M} {V}",
        "tar czf {A} {V} {M}",
        "tar czf {A} ./{M} ./{V}",
        "tar -S -czf {A} {V} {M}",
        "tar -S --format=posix --sparse-version=1.0 -czf {A} {M} {V}",
        "tar -czf {A} --format=ustar {M} {V}",
    };

    [Theory]
    [MemberData(nameof(OriginalArchives))]
    public async Task Archive_made_by_tar_itself_imports(string how)
    {
        var work = Directory.CreateDirectory(_dir.File("work")).FullName;
        var vol = ArchiveNames.ImageMember(Id);
        var meta = ArchiveNames.MetaMember(Id);
        MakeSparse(Path.Combine(work, vol), (12L << 20) + 512);
        await File.WriteAllTextAsync(Path.Combine(work, meta), Meta(0).ToJsonString(), TestContext.Current.CancellationToken);
        var archive = _dir.File("orig.tgz");
        var cmd = how.Replace("{A}", Q(archive), StringComparison.Ordinal)
            .Replace("{M}", meta, StringComparison.Ordinal).Replace("{V}", vol, StringComparison.Ordinal);
        await ShAsync($"cd {Q(work)} && {cmd}");
        var (r, written) = await ImportAsync(archive, _dir.File("restored.raw"));
        Assert.False(r.DigestVerified);
        Assert.Equal(Id, r.VolumeId);
        await ShAsync($"cmp {Q(Path.Combine(work, vol))} {Q(_dir.File("restored.raw"))}");
        Assert.True(written < 2 << 20, $"zeros are not written: {written}");
    }

    private sealed class SyncProgress(Action<ArchiveProgress> a) : IProgress<ArchiveProgress>
    {
        public void Report(ArchiveProgress value) => a(value);
    }
}
