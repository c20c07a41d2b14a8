namespace Cairn.Core.Services;

/// <summary>
/// Striped mutual exclusion by key (dataset names, IQNs): operations on the same key never interleave, while
/// different keys mostly proceed in parallel. Keys are compared case-insensitively (IQNs are case-insensitive).
/// </summary>
public sealed class KeyedLock
{
    private readonly SemaphoreSlim[] _stripes;

    public KeyedLock(int stripes = 256)
    {
        _stripes = new SemaphoreSlim[stripes];
        for (int i = 0; i < stripes; i++) _stripes[i] = new SemaphoreSlim(1, 1);
    }

    /// <summary>Takes the locks of all <paramref name="keys"/> in a fixed order (no deadlock), synchronously.</summary>
    public Releaser Acquire(params ReadOnlySpan<string> keys)
    {
        Span<int> idx = stackalloc int[keys.Length];
        for (int i = 0; i < keys.Length; i++) idx[i] = Stripe(keys[i]);
        idx.Sort();
        var taken = new List<SemaphoreSlim>(keys.Length);
        int last = -1;
        foreach (var i in idx)
        {
            if (i == last) continue;
            _stripes[i].Wait();
            taken.Add(_stripes[i]);
            last = i;
        }
        return new Releaser(taken);
    }

    private int Stripe(string key) => (int)((uint)StringComparer.OrdinalIgnoreCase.GetHashCode(key) % (uint)_stripes.Length);

    /// <summary>Releases on dispose.</summary>
    public readonly struct Releaser(List<SemaphoreSlim> taken) : IDisposable
    {
        public void Dispose()
        {
            for (int i = taken.Count - 1; i >= 0; i--) taken[i].Release();
        }
    }
}
