namespace Cairn.Engine;

/// <summary>
/// Immutable block → layer index of a frozen stack, so reads never walk the stack. Entries are layer depths (0: zeros).
/// A layer's index shares every page of its parent's index that the layer does not touch.
/// </summary>
internal sealed class MergedIndex
{
    private readonly Layer?[] _chain;
    private readonly PagedArray<ushort[]> _pages;

    /// <summary>Blocks readable through this stack that are stored.</summary>
    public readonly long StoredBlocks;

    private MergedIndex(Layer?[] chain, PagedArray<ushort[]> pages, long stored)
    {
        _chain = chain;
        _pages = pages;
        StoredBlocks = stored;
    }

    public ushort[]? Page(long pageIndex) => _pages.Get(pageIndex);

    public Layer? Lookup(long block)
    {
        var p = _pages.Get(block >> MapPage.Shift);
        if (p is null) return null;
        int d = p[block & (MapPage.Blocks - 1)];
        return d == 0 ? null : _chain[d];
    }

    public static MergedIndex Build(Layer layer)
    {
        if (layer.Depth > ushort.MaxValue) throw new InvalidOperationException("layer stack too deep");
        var parent = layer.Parent?.Index;
        var chain = new Layer?[layer.Depth + 1];
        parent?._chain.CopyTo(chain, 0);
        chain[layer.Depth] = layer;
        var pages = parent is null ? new PagedArray<ushort[]>() : parent._pages.ShallowCopy();
        long stored = parent?.StoredBlocks ?? 0;
        ushort depth = (ushort)layer.Depth;
        foreach (var (index, mp) in layer.Map.Pages())
        {
            var old = pages.Get(index);
            ushort[]? np = null;
            for (int w = 0; w < MapPage.Words; w++)
            {
                ulong data = mp.Data[w], zero = mp.Zero[w], m = data | zero;
                if (m == 0) continue;
                np ??= old is null ? new ushort[MapPage.Blocks] : (ushort[])old.Clone();
                while (m != 0)
                {
                    int bit = System.Numerics.BitOperations.TrailingZeroCount(m);
                    int i = (w << 6) + bit;
                    if (np[i] != 0) stored--;
                    if (((data >> bit) & 1) != 0) { np[i] = depth; stored++; }
                    else np[i] = 0;
                    m &= m - 1;
                }
            }
            if (np is not null) pages.Put(index, np);
        }
        return new MergedIndex(chain, pages, stored);
    }
}
