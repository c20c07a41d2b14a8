namespace Cairn.TestSupport;

/// <summary>
/// A lock shared by every test process on this machine, for resources that are machine-global by name (the seed's
/// zpool <c>na-jbod-02-p01</c>, which two test projects running at once both make): an exclusive open of a file in the
/// temp directory, released when disposed or when the process dies.
/// </summary>
public static class MachineLock
{
    /// <summary>Waits (up to <paramref name="timeout"/>, default 10 minutes) for the lock named <paramref name="name"/>.</summary>
    public static async Task<IDisposable> AcquireAsync(string name, CancellationToken ct, TimeSpan? timeout = null)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cairn-test-lock-{name}");
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromMinutes(10));
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(200, ct);
            }
        }
    }
}
