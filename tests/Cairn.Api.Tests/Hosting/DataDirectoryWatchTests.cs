using System.Globalization;
using Cairn.Api.Tests.Errors;
using Cairn.TestSupport;

namespace Cairn.Api.Tests.Hosting;

public sealed class DataDirectoryWatchTests
{
    [Fact]
    public async Task Server_sets_no_inotify_watch_on_its_data_directory()
    {
        // A watch on the data directory (the host's content root, watched for configuration reloads) turns every
        // write into a layer file into an event the server must read: the cost sat on the iSCSI write path.
        await using var h = await ApiHost.StartAsync();
        var dirs = Directory.EnumerateDirectories(h.Dir, "*", SearchOption.AllDirectories).Prepend(h.Dir).ToArray();
        var inodes = new HashSet<ulong>();
        foreach (var d in dirs)
        {
            var r = Commands.Run("stat", "-c", "%i", d);
            Assert.True(r.Succeeded, r.Output());
            inodes.Add(ulong.Parse(r.StdOut.Trim(), CultureInfo.InvariantCulture));
        }
        var watched = new List<ulong>();
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; } // closed meanwhile
            if (target != "anon_inode:inotify") continue;
            string[] info;
            try { info = File.ReadAllLines("/proc/self/fdinfo/" + Path.GetFileName(fd)); }
            catch (IOException) { continue; }
            foreach (var line in info.Where(l => l.StartsWith("inotify ", StringComparison.Ordinal)))
            {
                var ino = line.Split(' ').First(p => p.StartsWith("ino:", StringComparison.Ordinal))[4..];
                watched.Add(ulong.Parse(ino, NumberStyles.HexNumber, CultureInfo.InvariantCulture));
            }
        }
        Assert.True(dirs.Length >= 2, "the data directory should hold the pool's directory by now");
        Assert.DoesNotContain(watched, inodes.Contains);
    }
}
