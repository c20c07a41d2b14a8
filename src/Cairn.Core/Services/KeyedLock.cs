namespace Cairn.Core.Services;

/// <summary>
/// Striped asynchronous mutual exclusion by key (dataset names, IQNs): operations on the same key never interleave,
/// while different keys mostly proceed in parallel. Waiting never blocks a thread, so a holder may await engine
/// commands or store commits. Keys are compared case-insensitively (IQNs are case-insensitive).
/// </summary>
public sealed class KeyedLock
{
    private readonly SemaphoreSlim[] _stripes;

    public KeyedLock(int stripes = 256)
    {
        _stripes = new SemaphoreSlim[stripes];
        for (int i = 0; i < stripes; i++) _stripes[i] = new SemaphoreSlim(1, 1);
    }

    /// <summary>Takes the locks of all <paramref name="keys"/> in a fixed order (no deadlock).</summary>
    public async ValueTask<Releaser> AcquireAsync(IEnumerable<string> keys, CancellationToken ct = default)
    {
        var idx = keys.Select(Stripe).Distinct().Order().ToArray();
        var taken = new List<SemaphoreSlim>(idx.Length);
        try
        {
            foreach (var i in idx)
            {
                await _stripes[i].WaitAsync(ct);
                taken.Add(_stripes[i]);
            }
        }
        catch
        {
            new Releaser(taken).Dispose();
            throw;
        }
        return new Releaser(taken);
    }

    /// <summary>Takes the lock of one key.</summary>
    public ValueTask<Releaser> AcquireAsync(string key, CancellationToken ct = default) => AcquireAsync([key], ct);

    private int Stripe(string key) => (int)((uint)StringComparer.OrdinalIgnoreCase.GetHashCode(key) % (uint)_stripes.Length);

    /// <summary>Releases on dispose.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1815", Justification = "A using-scope token, never compared.")]
    public readonly struct Releaser(List<SemaphoreSlim> taken) : IDisposable
    {
        public void Dispose()
        {
            for (int i = taken.Count - 1; i >= 0; i--) taken[i].Release();
        }
    }
}
