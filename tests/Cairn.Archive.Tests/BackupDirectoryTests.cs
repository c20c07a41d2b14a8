namespace Cairn.Archive.Tests;

public sealed class BackupDirectoryTests : IDisposable
{
    private readonly TempDir _dir = new();
    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("sub/a.tgz")]
    [InlineData("a\0b")]
    public void Names_that_are_not_plain_are_refused(string name)
    {
        var e = Assert.Throws<ArchiveException>(() => BackupDirectory.OpenRead(_dir.Path, name));
        Assert.Equal(ArchiveError.BadFileName, e.Error);
    }

    [Fact]
    public void Symlinks_fifos_and_directories_are_refused_and_regular_files_open()
    {
        File.WriteAllText(_dir.File("a.tgz"), "x");
        File.CreateSymbolicLink(_dir.File("inside.tgz"), _dir.File("a.tgz"));
        File.CreateSymbolicLink(_dir.File("outside.tgz"), "/etc/passwd");
        Directory.CreateDirectory(_dir.File("dir.tgz"));
        var mk = Cairn.TestSupport.Commands.Run("mkfifo", _dir.File("fifo.tgz"));
        Assert.Equal(0, mk.ExitCode);
        foreach (var n in new[] { "inside.tgz", "outside.tgz", "dir.tgz", "fifo.tgz" })
            Assert.Equal(ArchiveError.BadFileName, Assert.Throws<ArchiveException>(() => BackupDirectory.OpenRead(_dir.Path, n)).Error);
        Assert.Throws<FileNotFoundException>(() => BackupDirectory.OpenRead(_dir.Path, "missing.tgz"));
        using var s = BackupDirectory.OpenRead(_dir.Path, "a.tgz");
        Assert.Equal('x', s.ReadByte());
    }

    [Fact]
    public void Archive_names_carry_the_uuid_where_the_starlingx_client_looks()
    {
        var id = Guid.NewGuid();
        var name = ArchiveNames.FileName(id, new DateTimeOffset(2015, 2, 27, 16, 35, 53, TimeSpan.FromHours(2)));
        Assert.Equal($"volume-{id}-20150227-143553.tgz", name);
        Assert.Equal(id.ToString(), name[7..^20]); // file_name[7:-20]
        Assert.True(ArchiveNames.TryParse(name, out var parsed, out var t));
        Assert.Equal(id, parsed);
        Assert.Equal(new DateTimeOffset(2015, 2, 27, 14, 35, 53, TimeSpan.Zero), t);
        Assert.False(ArchiveNames.TryParse("volume-x-20150227-143553.tgz", out _, out _));
        Assert.False(ArchiveNames.TryParse($"volume-{id}-20151327-143553.tgz", out _, out _));
    }
}
