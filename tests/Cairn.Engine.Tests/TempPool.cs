using Cairn.Engine;

namespace Cairn.Engine.Tests;

/// <summary>A fresh pool directory, deleted afterwards.</summary>
internal sealed class TempPool : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "cairn-engine-tests", Guid.NewGuid().ToString("N"));

    public EmbeddedEngine Open(bool durable = false) => new(Dir, new EmbeddedEngineOptions { Durable = durable });

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }

    /// <summary>Bytes the filesystem actually allocated for the pool's layer files (st_blocks via du).</summary>
    public long DiskUsage()
    {
        var output = Cairn.TestSupport.Commands.Run("du", "-s", "-B1", Dir).ThrowIfFailed().StdOut;
        return long.Parse(output.Split('\t')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    public static byte[] Pattern(int length, int seed)
    {
        var b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }
}
